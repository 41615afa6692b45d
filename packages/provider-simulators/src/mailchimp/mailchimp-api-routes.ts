// The Marketing API 3.0 surface a venue sync needs: root/ping, lists, list members (with offset
// paging and the `since_last_changed` filter), batch subscribe and list webhooks.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PROBLEMS, sendProblem } from './mailchimp-errors.ts'
import { project } from './mailchimp-projection.ts'
import { listJson, memberJson, rootJson, webhookJson } from './mailchimp-resources.ts'
import { MEMBER_STATUSES, WEBHOOK_EVENT_TYPES, findList, findMember, subscriberHash } from './mailchimp-store.ts'
import type { MailchimpStore, MemberStatus, SimAccount, SimList, SimMember, SimWebhook, WebhookEventType } from './mailchimp-store.ts'
import { parseIsoParam } from './mailchimp-time.ts'
import { applyMemberInput, createMemberFrom, isValidEmail, upsertMember, validateMemberInput } from './mailchimp-member-input.ts'
import type { MemberInput } from './mailchimp-member-input.ts'
import { validateWebhookUrl } from './mailchimp-webhooks.ts'

export const MAX_COUNT = 1000
const DEFAULT_COUNT = 10
const MAX_BATCH_MEMBERS = 500

/** The account the onRequest hook authenticated, per request. */
export const requestAccounts = new WeakMap<FastifyRequest, SimAccount>()

export interface ApiRouteOptions {
  store: MailchimpStore
  validateWebhookUrls: boolean
}

type Query = Record<string, string | undefined>

function accountOf(request: FastifyRequest): SimAccount {
  const account = requestAccounts.get(request)
  if (!account) throw new Error('unauthenticated request reached a Mailchimp route')
  return account
}

function sendJson(reply: FastifyReply, request: FastifyRequest, body: unknown): FastifyReply {
  const query = request.query as Query
  return reply
    .code(200)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(project(body, query.fields, query.exclude_fields)))
}

/** `count`/`offset` as Mailchimp validates them: count 0..1000 (default 10), offset ≥ 0. */
function paging(query: Query): { count: number; offset: number } | { error: ReturnType<typeof PROBLEMS.invalidResource> } {
  const count = query.count === undefined || query.count === '' ? DEFAULT_COUNT : Number(query.count)
  const offset = query.offset === undefined || query.offset === '' ? 0 : Number(query.offset)
  if (!Number.isInteger(count) || count < 0) return { error: PROBLEMS.invalidResource([{ field: 'count', message: 'This value should be a positive integer.' }]) }
  if (count > MAX_COUNT) return { error: PROBLEMS.invalidResource([{ field: 'count', message: `This value should be less than or equal to ${MAX_COUNT}.` }]) }
  if (!Number.isInteger(offset) || offset < 0) return { error: PROBLEMS.invalidResource([{ field: 'offset', message: 'This value should be a positive integer.' }]) }
  return { count, offset }
}

function listOr404(request: FastifyRequest, reply: FastifyReply): SimList | null {
  const list = findList(accountOf(request), (request.params as { list_id: string }).list_id)
  if (!list) sendProblem(reply, PROBLEMS.notFound())
  return list ?? null
}

function memberFilter(query: Query): ((member: SimMember) => boolean) | { error: ReturnType<typeof PROBLEMS.invalidResource> } {
  const status = query.status
  if (status !== undefined && status !== '' && !(MEMBER_STATUSES as readonly string[]).includes(status)) {
    return { error: PROBLEMS.invalidResource([{ field: 'status', message: `The value you selected is not a valid choice. Choose one of: ${MEMBER_STATUSES.join(', ')}.` }]) }
  }
  const since = parseIsoParam(query.since_last_changed)
  const before = parseIsoParam(query.before_last_changed)
  for (const [field, value] of [
    ['since_last_changed', since],
    ['before_last_changed', before],
  ] as const) {
    if (value !== undefined && Number.isNaN(value)) return { error: PROBLEMS.invalidResource([{ field, message: 'This value is not a valid datetime.' }]) }
  }
  // Both bounds compare at the one-second resolution `last_changed` is shown in: since is
  // inclusive, before exclusive, so consecutive windows [a, b) [b, c) neither overlap nor gap.
  return (member) => (status === undefined || status === '' || member.status === (status as MemberStatus)) && (since === undefined || member.lastChangedMs >= since) && (before === undefined || member.lastChangedMs < before)
}

export async function mailchimpApiRoutes(app: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const { store } = options

  app.get('/', async (request, reply) => sendJson(reply, request, rootJson(accountOf(request))))

  app.get('/ping', async (request, reply) => sendJson(reply, request, { health_status: "Everything's Chimpy!" }))

  app.get('/lists', async (request, reply) => {
    const query = request.query as Query
    const page = paging(query)
    if ('error' in page) return sendProblem(reply, page.error)
    const account = accountOf(request)
    const lists = account.lists.slice(page.offset, page.offset + page.count)
    return sendJson(reply, request, {
      lists: lists.map((list) => listJson(list, account)),
      total_items: account.lists.length,
      constraints: { may_create: true, max_instances: 100, current_total_instances: account.lists.length },
      _links: [],
    })
  })

  app.get('/lists/:list_id', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    return sendJson(reply, request, listJson(list, accountOf(request)))
  })

  app.post('/lists/:list_id', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const body = (request.body ?? {}) as { members?: unknown; update_existing?: unknown }
    if (!Array.isArray(body.members)) return sendProblem(reply, PROBLEMS.invalidResource([{ field: 'members', message: 'This value should not be blank.' }]))
    if (body.members.length > MAX_BATCH_MEMBERS) {
      return sendProblem(reply, PROBLEMS.invalidResource([{ field: 'members', message: `You can only batch subscribe up to ${MAX_BATCH_MEMBERS} members per request.` }]))
    }
    const updateExisting = body.update_existing === true
    const created: SimMember[] = []
    const updated: SimMember[] = []
    const errors: Array<{ email_address: string; error: string; error_code: string; field: string; field_message: string }> = []
    for (const raw of body.members as MemberInput[]) {
      const email = typeof raw?.email_address === 'string' ? raw.email_address : ''
      const fieldErrors = validateMemberInput(raw ?? {}, { requireEmail: true, statusField: 'status' })
      const first = fieldErrors[0]
      if (first) {
        const message = first.field === 'email_address' ? `${email} looks fake or invalid, please enter a real email address.` : first.message
        errors.push({ email_address: email, error: message, error_code: 'ERROR_GENERIC', field: first.field, field_message: first.message })
        continue
      }
      const existing = findMember(list, subscriberHash(email))
      if (existing && existing.status !== 'archived' && !updateExisting) {
        errors.push({
          email_address: email,
          error: `${email} is already a list member, do you want to update? please provide update_existing:true in the request body`,
          error_code: 'ERROR_CONTACT_EXISTS',
          field: '',
          field_message: '',
        })
        continue
      }
      const { member, created: isNew } = upsertMember(store, list, email, raw)
      ;(isNew ? created : updated).push(member)
    }
    return sendJson(reply, request, {
      new_members: created.map((member) => memberJson(member, list)),
      updated_members: updated.map((member) => memberJson(member, list)),
      errors,
      total_created: created.length,
      total_updated: updated.length,
      error_count: errors.length,
      _links: [],
    })
  })

  app.get('/lists/:list_id/members', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const query = request.query as Query
    const page = paging(query)
    if ('error' in page) return sendProblem(reply, page.error)
    const filter = memberFilter(query)
    if (typeof filter !== 'function') return sendProblem(reply, filter.error)
    // Creation order, never re-sorted by updates: a walk over offsets while members change
    // neither misses nor repeats one. Only permanent deletions shift later members left.
    const matching = list.members.filter(filter)
    return sendJson(reply, request, {
      members: matching.slice(page.offset, page.offset + page.count).map((member) => memberJson(member, list)),
      list_id: list.id,
      total_items: matching.length,
      _links: [],
    })
  })

  app.post('/lists/:list_id/members', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const body = (request.body ?? {}) as MemberInput
    const errors = validateMemberInput(body, { requireEmail: true, statusField: 'status' })
    if (errors.length) return sendProblem(reply, PROBLEMS.invalidResource(errors))
    const email = body.email_address as string
    const existing = findMember(list, subscriberHash(email))
    if (existing && existing.status !== 'archived') return sendProblem(reply, PROBLEMS.memberExists(email))
    const member = existing ? upsertMember(store, list, email, body).member : createMemberFrom(store, list, email, body.status as MemberStatus, body)
    return sendJson(reply, request, memberJson(member, list))
  })

  app.get('/lists/:list_id/members/:hash', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const member = findMember(list, (request.params as { hash: string }).hash)
    if (!member) return sendProblem(reply, PROBLEMS.notFound())
    return sendJson(reply, request, memberJson(member, list))
  })

  app.put('/lists/:list_id/members/:hash', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const body = (request.body ?? {}) as MemberInput
    const hash = (request.params as { hash: string }).hash
    const errors = validateMemberInput(body, { requireEmail: true, statusField: 'status_if_new' })
    if (errors.length) return sendProblem(reply, PROBLEMS.invalidResource(errors))
    const email = body.email_address as string
    const pathHash = hash.includes('@') ? subscriberHash(hash) : hash.toLowerCase()
    if (pathHash !== subscriberHash(email)) {
      return sendProblem(reply, PROBLEMS.invalidResource([{ field: 'email_address', message: 'The email address does not match the subscriber hash in the URL.' }]))
    }
    return sendJson(reply, request, memberJson(upsertMember(store, list, email, body).member, list))
  })

  app.patch('/lists/:list_id/members/:hash', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const member = findMember(list, (request.params as { hash: string }).hash)
    if (!member) return sendProblem(reply, PROBLEMS.notFound())
    const body = (request.body ?? {}) as MemberInput
    const errors = validateMemberInput(body, { requireEmail: false, statusField: null })
    if (errors.length) return sendProblem(reply, PROBLEMS.invalidResource(errors))
    if (isValidEmail(body.email_address)) {
      const other = findMember(list, subscriberHash(body.email_address))
      if (other && other !== member) return sendProblem(reply, PROBLEMS.memberExists(body.email_address))
    }
    applyMemberInput(store, list, member, body, 'status')
    return sendJson(reply, request, memberJson(member, list))
  })

  // DELETE archives: the member stays, with status `archived` and a fresh `last_changed`.
  app.delete('/lists/:list_id/members/:hash', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const member = findMember(list, (request.params as { hash: string }).hash)
    if (!member || member.status === 'archived') return sendProblem(reply, PROBLEMS.notFound())
    member.status = 'archived'
    store.touch(member)
    return reply.code(204).send()
  })

  app.post('/lists/:list_id/members/:hash/actions/delete-permanent', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const member = findMember(list, (request.params as { hash: string }).hash)
    if (!member) return sendProblem(reply, PROBLEMS.notFound())
    store.deletePermanently(list, member)
    return reply.code(204).send()
  })

  app.get('/lists/:list_id/webhooks', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    return sendJson(reply, request, { webhooks: list.webhooks.map(webhookJson), list_id: list.id, total_items: list.webhooks.length, _links: [] })
  })

  app.post('/lists/:list_id/webhooks', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const body = (request.body ?? {}) as { url?: unknown; events?: unknown; sources?: unknown }
    if (typeof body.url !== 'string' || !/^https?:\/\/[^\s]+$/i.test(body.url) || !URL.canParse(body.url)) {
      return sendProblem(reply, PROBLEMS.invalidResource([{ field: 'url', message: 'This value is not a valid URL.' }]))
    }
    if (list.webhooks.some((webhook) => webhook.url === body.url)) {
      return sendProblem(reply, PROBLEMS.invalidResource([{ field: 'url', message: 'A webhook with this URL already exists for this list.' }]))
    }
    if (options.validateWebhookUrls && !(await validateWebhookUrl(body.url))) {
      return sendProblem(reply, PROBLEMS.invalidResource([{ field: 'url', message: "We couldn't verify the URL is working. Please double check and try again." }]))
    }
    const events = Object.fromEntries(WEBHOOK_EVENT_TYPES.map((type) => [type, true])) as Record<WebhookEventType, boolean>
    if (body.events && typeof body.events === 'object') {
      for (const type of WEBHOOK_EVENT_TYPES) {
        const value = (body.events as Record<string, unknown>)[type]
        if (typeof value === 'boolean') events[type] = value
      }
    }
    const sources = { user: true, admin: true, api: false }
    if (body.sources && typeof body.sources === 'object') {
      for (const key of ['user', 'admin', 'api'] as const) {
        const value = (body.sources as Record<string, unknown>)[key]
        if (typeof value === 'boolean') sources[key] = value
      }
    }
    const webhook: SimWebhook = { id: randomBytes(5).toString('hex'), url: body.url, events, sources, list_id: list.id }
    list.webhooks.push(webhook)
    return sendJson(reply, request, webhookJson(webhook))
  })

  app.get('/lists/:list_id/webhooks/:webhook_id', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const webhook = list.webhooks.find((candidate) => candidate.id === (request.params as { webhook_id: string }).webhook_id)
    if (!webhook) return sendProblem(reply, PROBLEMS.notFound())
    return sendJson(reply, request, webhookJson(webhook))
  })

  app.delete('/lists/:list_id/webhooks/:webhook_id', async (request, reply) => {
    const list = listOr404(request, reply)
    if (!list) return reply
    const index = list.webhooks.findIndex((candidate) => candidate.id === (request.params as { webhook_id: string }).webhook_id)
    if (index === -1) return sendProblem(reply, PROBLEMS.notFound())
    list.webhooks.splice(index, 1)
    return reply.code(204).send()
  })
}
