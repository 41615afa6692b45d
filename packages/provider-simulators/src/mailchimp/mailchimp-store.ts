// In-memory Mailchimp accounts: audiences (lists), their members and list webhooks. Every account
// is generated from (seed, credential) so a credential always opens the same deterministic data,
// and tests isolate themselves simply by using a fresh key.
import { createHash, randomBytes } from 'node:crypto'
import { createPrng, fakePerson, seedFrom } from '../common/prng.ts'
import type { Prng } from '../common/prng.ts'
import { floorToSecond, mailchimpTimestamp } from './mailchimp-time.ts'
import type { SimClock } from './mailchimp-time.ts'

export const MEMBER_STATUSES = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional', 'archived'] as const
export type MemberStatus = (typeof MEMBER_STATUSES)[number]

export const WEBHOOK_EVENT_TYPES = ['subscribe', 'unsubscribe', 'profile', 'cleaned', 'upemail', 'campaign'] as const
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

export interface SimMember {
  /** Creation order inside the list: the stable order offset pagination walks. */
  seq: number
  id: string
  email_address: string
  unique_email_id: string
  contact_id: string
  web_id: number
  email_type: 'html' | 'text'
  status: MemberStatus
  merge_fields: Record<string, string>
  ip_signup: string
  timestamp_signup: string
  ip_opt: string
  timestamp_opt: string
  member_rating: number
  /** Milliseconds, already floored to the second Mailchimp shows. */
  lastChangedMs: number
  language: string
  vip: boolean
  source: string
  tags: Array<{ id: number; name: string }>
}

export interface SimWebhook {
  id: string
  url: string
  events: Record<WebhookEventType, boolean>
  sources: { user: boolean; admin: boolean; api: boolean }
  list_id: string
}

export interface SimList {
  id: string
  web_id: number
  name: string
  dateCreatedMs: number
  members: SimMember[]
  byHash: Map<string, SimMember>
  webhooks: SimWebhook[]
  nextSeq: number
}

export interface SimAccount {
  id: string
  loginId: string
  name: string
  username: string
  email: string
  createdMs: number
  lists: SimList[]
  /** Next person index, so generated emails never collide inside an account. */
  nextIndex: number
}

export interface SimOAuthCode {
  code: string
  clientId: string
  redirectUri: string
  accountId: string
  expiresAtMs: number
}

export interface SimOAuthToken {
  accountId: string
  /** null: never expires, as with every real Mailchimp token. */
  expiresAtMs: number | null
}

export const API_KEY_PATTERN = /^[0-9a-f]{32}-([a-z]{2,}\d+)$/
export const ACCESS_TOKEN_PATTERN = /^[0-9a-f]{32}$/

const LIST_NAMES = ['Venue Newsletter', 'Season Ticket Holders', 'Members Club', 'Press & Partners'] as const
const COMPANY = ['The Old Vic Collective', 'Riverside Arts Centre', 'Northern Lights Hall', 'Globe Street Theatre', 'Harbour Jazz Club'] as const

export function subscriberHash(email: string): string {
  return createHash('md5').update(email.toLowerCase()).digest('hex')
}

export class MailchimpStore {
  readonly seed: string
  readonly recordsPerEntity: number
  readonly listsPerAccount: number
  readonly clock: SimClock
  readonly accounts = new Map<string, SimAccount>()
  /** credential (API key, access token or `oauth-user:<login>`) → account id. */
  readonly #credentialAccounts = new Map<string, string>()
  readonly revoked = new Set<string>()
  readonly codes = new Map<string, SimOAuthCode>()
  readonly tokens = new Map<string, SimOAuthToken>()
  accessTokenTtlSeconds: number | null = null

  constructor(options: { seed: string; recordsPerEntity: number; listsPerAccount: number; clock: SimClock }) {
    this.seed = options.seed
    this.recordsPerEntity = options.recordsPerEntity
    this.listsPerAccount = Math.max(1, options.listsPerAccount)
    this.clock = options.clock
  }

  /** The account a well-formed credential opens, created and seeded on first use. */
  accountForCredential(credential: string): SimAccount {
    const issued = this.tokens.get(credential)
    const known = issued?.accountId ?? this.#credentialAccounts.get(credential)
    if (known) {
      const account = this.accounts.get(known)
      if (account) return account
    }
    const account = this.#createAccount(credential)
    this.#credentialAccounts.set(credential, account.id)
    return account
  }

  #createAccount(credential: string): SimAccount {
    const rng = createPrng(seedFrom(this.seed, 'account', credential))
    const company = rng.pick(COMPANY)
    const username = `${company.toLowerCase().replace(/[^a-z]+/g, '')}${rng.int(10, 99)}`
    const account: SimAccount = {
      id: rng.hex(25),
      loginId: String(rng.int(10_000_000, 199_999_999)),
      name: company,
      username,
      email: `${username}@example.com`,
      createdMs: Date.parse('2021-06-01T09:00:00Z') + rng.int(0, 365) * 86_400_000,
      lists: [],
      nextIndex: 0,
    }
    for (let i = 0; i < this.listsPerAccount; i++) {
      account.lists.push({
        id: rng.hex(10),
        web_id: rng.int(100_000, 999_999),
        name: LIST_NAMES[i % LIST_NAMES.length] ?? `Audience ${i + 1}`,
        dateCreatedMs: account.createdMs + i * 86_400_000,
        members: [],
        byHash: new Map(),
        webhooks: [],
        nextSeq: 0,
      })
    }
    this.accounts.set(account.id, account)
    this.seedAccount(account, this.recordsPerEntity)
    return account
  }

  /**
   * Replaces every list's members with `count` deterministic ones spread round-robin over the
   * lists (or all in `listId`). Lists and their webhooks are kept.
   */
  seedAccount(account: SimAccount, count: number, listId?: string): void {
    const targets = listId ? account.lists.filter((list) => list.id === listId) : account.lists
    for (const list of targets) {
      list.members = []
      list.byHash.clear()
      list.nextSeq = 0
    }
    account.nextIndex = 0
    const rng = createPrng(seedFrom(this.seed, account.id, 'members'))
    const base = Date.parse('2023-01-01T00:00:00Z')
    for (let i = 0; i < count; i++) {
      const list = targets[i % targets.length] as SimList
      const optMs = base + i * 60_000 + rng.int(0, 59) * 1000
      this.#addMember(list, rng, account.nextIndex++, seededStatus(rng), optMs, optMs + rng.int(0, 3600) * 1000)
    }
  }

  /** New members stamped with the simulated "now", as a signup or import would be. */
  createMembers(account: SimAccount, count: number, listId?: string): Array<{ list: SimList; member: SimMember }> {
    const created: Array<{ list: SimList; member: SimMember }> = []
    const now = this.clock.now()
    for (let i = 0; i < count; i++) {
      const index = account.nextIndex++
      const rng = createPrng(seedFrom(this.seed, account.id, 'create', index))
      const list = (listId ? account.lists.find((candidate) => candidate.id === listId) : account.lists[index % account.lists.length]) as SimList
      created.push({ list, member: this.#addMember(list, rng, index, 'subscribed', now, now) })
    }
    return created
  }

  #addMember(list: SimList, rng: Prng, index: number, status: MemberStatus, optMs: number, changedMs: number): SimMember {
    const person = fakePerson(rng, index)
    // Addresses are unique per index, but a re-seeded list or an API-added address may collide.
    let email = person.email
    for (let n = 1; list.byHash.has(subscriberHash(email)); n++) email = person.email.replace('@', `+${n}@`)
    const member = this.newMember(list, email, status, { FNAME: person.givenName, LNAME: person.familyName, PHONE: person.phone }, rng, optMs)
    member.lastChangedMs = floorToSecond(changedMs)
    return member
  }

  /** Inserts a member at the end of the list's creation order. */
  newMember(list: SimList, email: string, status: MemberStatus, mergeFields: Record<string, string>, rng: Prng, nowMs: number): SimMember {
    const member: SimMember = {
      seq: list.nextSeq++,
      id: subscriberHash(email),
      email_address: email,
      unique_email_id: rng.hex(10),
      contact_id: rng.hex(32),
      web_id: rng.int(100_000_000, 999_999_999),
      email_type: 'html',
      status,
      merge_fields: { FNAME: '', LNAME: '', ADDRESS: '', PHONE: '', BIRTHDAY: '', ...mergeFields },
      ip_signup: '',
      timestamp_signup: '',
      ip_opt: `198.51.100.${rng.int(1, 254)}`,
      timestamp_opt: status === 'pending' ? '' : mailchimpTimestamp(nowMs),
      member_rating: rng.int(1, 5),
      lastChangedMs: floorToSecond(nowMs),
      language: '',
      vip: false,
      source: 'API - Generic',
      tags: [],
    }
    list.members.push(member)
    list.byHash.set(member.id, member)
    return member
  }

  /** A PRNG for members created through the API: random, since API calls are not replayed. */
  apiRng(): Prng {
    return createPrng(randomBytes(4).readUInt32BE(0))
  }

  touch(member: SimMember): void {
    member.lastChangedMs = floorToSecond(this.clock.now())
  }

  /** Changes the address of a member, which changes its subscriber hash (Mailchimp's upemail). */
  changeEmail(list: SimList, member: SimMember, email: string): void {
    list.byHash.delete(member.id)
    member.email_address = email
    member.id = subscriberHash(email)
    list.byHash.set(member.id, member)
  }

  /** Permanent deletion: the member disappears and later members shift one place left. */
  deletePermanently(list: SimList, member: SimMember): void {
    list.byHash.delete(member.id)
    const index = list.members.indexOf(member)
    if (index !== -1) list.members.splice(index, 1)
  }

  issueCode(clientId: string, redirectUri: string, login: string): string {
    const account = this.accountForCredential(`oauth-user:${login}`)
    const code = randomBytes(16).toString('hex')
    this.codes.set(code, { code, clientId, redirectUri, accountId: account.id, expiresAtMs: this.clock.now() + 5 * 60_000 })
    return code
  }

  issueToken(accountId: string): { token: string; ttl: number | null } {
    const token = randomBytes(16).toString('hex')
    const ttl = this.accessTokenTtlSeconds
    this.tokens.set(token, { accountId, expiresAtMs: ttl === null ? null : this.clock.now() + ttl * 1000 })
    return { token, ttl }
  }
}

function seededStatus(rng: Prng): MemberStatus {
  const roll = rng.next()
  if (roll < 0.8) return 'subscribed'
  if (roll < 0.9) return 'unsubscribed'
  if (roll < 0.94) return 'cleaned'
  if (roll < 0.98) return 'pending'
  return 'transactional'
}

export function findList(account: SimAccount, listId: string): SimList | undefined {
  return account.lists.find((list) => list.id === listId)
}

/** The `{subscriber_hash}` path segment also accepts the email address itself, as Mailchimp's does. */
export function findMember(list: SimList, hashOrEmail: string): SimMember | undefined {
  const key = hashOrEmail.includes('@') ? subscriberHash(hashOrEmail) : hashOrEmail.toLowerCase()
  return list.byHash.get(key)
}
