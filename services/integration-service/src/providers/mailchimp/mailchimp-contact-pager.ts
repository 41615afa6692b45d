// Listing contacts: every audience's members, one API page at a time.
//
// Mailchimp pages members by offset in a stable (creation) order. Updates do not move members,
// but a permanently deleted member shifts every later one a place left, so a plain offset walk
// would skip one member per deletion behind it. Each page therefore starts `anchorSize` members
// before the previous end and resumes right after the last id it had already read (the "tail");
// if none of those ids is in sight any more, it looks further back. Nothing is skipped and,
// unless every anchor id vanished at once, nothing is repeated.
//
// Incremental runs read the window [since, before) of `last_changed`, where `before` is the
// server's time when the run started: members changed during the walk leave the window (which
// the anchors absorb) and are picked up by the next run, whose `since` is that same start time
// minus a small overlap (the API's timestamps have one-second resolution and its inclusive/
// exclusive bounds are undocumented, so a re-read second is cheaper than a missed one).
import type { ChangePage, ListOptions, ProviderContext } from '../provider-adapter.ts'
import { ProviderInvalidError } from '../provider-errors.ts'
import { decodeCursor, encodeCursor } from './mailchimp-cursor.ts'
import type { ContactCursor, WalkCursor } from './mailchimp-cursor.ts'
import { callMailchimp } from './mailchimp-errors.ts'
import type { ErrorMappingOptions } from './mailchimp-errors.ts'
import { contactExternalId, toContact } from './mailchimp-mapper.ts'
import { createSdkClient } from './mailchimp-sdk.ts'
import type { MailchimpMember, MailchimpSdkClient, SdkResponse } from './mailchimp-sdk.ts'

export const MAX_COUNT = 1000
const EXCLUDE = ['_links', 'members._links']

export interface PagerConfig extends ErrorMappingOptions {
  timeoutMs: number
  pageSize: number
  anchorSize: number
  overlapSeconds: number
  listId: string | undefined
  now: () => number
}

export type Call = <T>(fn: () => Promise<T>) => Promise<T>

/** `2015-10-21T15:41:36+00:00`: the form Mailchimp documents for its date filters. */
export function mailchimpTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00')
}

/** The server's clock from the Date header, so the watermark never depends on ours. */
function serverTime(response: SdkResponse, fallback: number): number {
  const parsed = Date.parse(response.headers.date ?? '')
  return Number.isNaN(parsed) ? fallback : parsed
}

export async function enumerateLists(client: MailchimpSdkClient, call: Call, config: Pick<PagerConfig, 'listId' | 'now'>): Promise<{ lists: string[]; startedAt: number }> {
  if (config.listId) {
    const listId = config.listId
    const { response } = await call(() => client.lists.getListWithHttpInfo(listId, { fields: ['id'] }))
    return { lists: [listId], startedAt: serverTime(response, config.now()) }
  }
  const lists: string[] = []
  let startedAt: number | undefined
  for (let offset = 0; ; offset += MAX_COUNT) {
    const { data, response } = await call(() => client.lists.getAllListsWithHttpInfo({ count: MAX_COUNT, offset, fields: ['lists.id', 'total_items'] }))
    startedAt ??= serverTime(response, config.now())
    lists.push(...data.lists.map((list) => list.id))
    if (data.lists.length === 0 || lists.length >= data.total_items) return { lists, startedAt }
  }
}

interface Window {
  fresh: MailchimpMember[]
  end: number
  total: number
  tail: string[]
  empty: boolean
}

async function readWindow(client: MailchimpSdkClient, call: Call, state: WalkCursor, listId: string, pageSize: number, config: PagerConfig): Promise<Window> {
  const anchors = new Set(state.tail)
  let back = anchors.size ? config.anchorSize : 0
  for (;;) {
    const start = Math.max(0, state.offset - back)
    const count = Math.min(MAX_COUNT, pageSize + (state.offset - start))
    const { data } = await call(() =>
      client.lists.getListMembersInfoWithHttpInfo(listId, {
        count,
        offset: start,
        excludeFields: EXCLUDE,
        ...(state.since ? { sinceLastChanged: state.since } : {}),
        ...(state.before ? { beforeLastChanged: state.before } : {}),
      }),
    )
    const items = data.members
    let fresh: MailchimpMember[]
    if (anchors.size === 0) fresh = items
    else {
      let anchor = -1
      for (let i = items.length - 1; i >= 0; i--) {
        if (anchors.has((items[i] as MailchimpMember).id)) {
          anchor = i
          break
        }
      }
      if (anchor >= 0) fresh = items.slice(anchor + 1)
      // Every anchor is gone and we are back at the top: read on from here (may repeat).
      else if (start === 0) fresh = items
      else {
        back = back * 4 + pageSize
        continue
      }
    }
    return { fresh, end: start + items.length, total: data.total_items, tail: items.slice(-config.anchorSize).map((member) => member.id), empty: items.length === 0 }
  }
}

function startCursor(mode: ListOptions['mode'], previous: ContactCursor | null, lists: string[], startedAt: number, config: PagerConfig): WalkCursor {
  const incremental = mode === 'incremental' && previous?.phase === 'done'
  return {
    v: 1,
    phase: 'walk',
    mode: incremental ? 'incremental' : 'full',
    lists,
    listIndex: 0,
    offset: 0,
    tail: [],
    since: incremental ? previous.watermark : null,
    before: incremental ? mailchimpTime(startedAt) : null,
    watermark: mailchimpTime(startedAt - config.overlapSeconds * 1000),
  }
}

export async function* listContacts(ctx: ProviderContext, options: ListOptions, config: PagerConfig): AsyncGenerator<ChangePage<'contact'>> {
  const pageSize = Math.max(1, Math.min(MAX_COUNT, Math.floor(options.pageSize ?? config.pageSize)))
  if (!Number.isFinite(pageSize)) throw new ProviderInvalidError('mailchimp', 'pageSize must be a number')
  const client = createSdkClient(ctx, config)
  const call: Call = (fn) => callMailchimp(ctx.signal, config, fn)
  const previous = decodeCursor(options.cursor)

  // A checkpoint resumes in its own mode, except that a full run never continues an incremental
  // walk. An incremental request with no watermark yet is a full run.
  let state: WalkCursor
  if (previous?.phase === 'walk' && !(options.mode === 'full' && previous.mode === 'incremental')) state = { ...previous, lists: [...previous.lists], tail: [...previous.tail] }
  else {
    const { lists, startedAt } = await enumerateLists(client, call, config)
    state = startCursor(options.mode, previous, lists, startedAt, config)
  }

  for (;;) {
    const listId = state.lists[state.listIndex]
    if (listId === undefined) {
      yield { records: [], deletedIds: [], cursor: encodeCursor({ v: 1, phase: 'done', watermark: state.watermark }), hasMore: false }
      return
    }
    const window = await readWindow(client, call, state, listId, pageSize, config)
    const records = []
    const deletedIds: string[] = []
    for (const member of window.fresh) {
      // DELETE on Mailchimp archives: the member stays visible with status `archived`.
      if (member.status === 'archived') deletedIds.push(contactExternalId(listId, member.id))
      else records.push(toContact(member, listId))
    }
    if (window.empty || window.end >= window.total) state = { ...state, listIndex: state.listIndex + 1, offset: 0, tail: [] }
    else state = { ...state, offset: window.end, tail: window.tail }
    const finished = state.listIndex >= state.lists.length
    if (finished) {
      yield { records, deletedIds, cursor: encodeCursor({ v: 1, phase: 'done', watermark: state.watermark }), hasMore: false }
      return
    }
    // Empty pages in the middle (an audience with no changes) carry nothing worth a checkpoint.
    if (records.length || deletedIds.length) yield { records, deletedIds, cursor: encodeCursor(state), hasMore: true }
  }
}
