// The simulator's own control API under /_sim (JSON, no auth): look accounts up, seed and mutate
// members the way activity in the Mailchimp UI would (stamping `last_changed`), revoke keys,
// inject faults, move the clock and fire list webhooks.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { FaultPlan, FaultRegistry } from '../common/faults.ts'
import { isWellFormed } from './mailchimp-auth.ts'
import type { AuthOptions } from './mailchimp-auth.ts'
import { applyMemberInput, validateMemberInput } from './mailchimp-member-input.ts'
import type { MemberInput } from './mailchimp-member-input.ts'
import { memberJson } from './mailchimp-resources.ts'
import { WEBHOOK_EVENT_TYPES, findMember, subscriberHash } from './mailchimp-store.ts'
import type { MailchimpStore, SimAccount, SimList, SimMember, WebhookEventType } from './mailchimp-store.ts'
import { mailchimpTimestamp } from './mailchimp-time.ts'
import { deliver, webhookPayload } from './mailchimp-webhooks.ts'
import type { DeliveryResult } from './mailchimp-webhooks.ts'

export interface ControlRouteOptions {
  store: MailchimpStore
  faults: FaultRegistry
  auth: AuthOptions
}

const ENTITY_ALIASES = new Set(['contact', 'contacts', 'member', 'members'])
const FAULT_KINDS = new Set(['rate_limit', 'server_error', 'slow', 'reset', 'expired_token'])

function summary(list: SimList, member: SimMember): Record<string, unknown> {
  return {
    id: `${list.id}:${member.id}`,
    listId: list.id,
    subscriberHash: member.id,
    email: member.email_address,
    status: member.status,
    lastChanged: mailchimpTimestamp(member.lastChangedMs),
  }
}

/** `<listId>:<hash>`, a bare hash or an email; a bare hash present in several lists is ambiguous. */
function locateMember(account: SimAccount, id: string, listId?: string): { list: SimList; member: SimMember } | 'ambiguous' | null {
  const colon = id.indexOf(':')
  const wantedList = colon === -1 ? listId : id.slice(0, colon)
  const key = colon === -1 ? id : id.slice(colon + 1)
  const found: Array<{ list: SimList; member: SimMember }> = []
  for (const list of account.lists) {
    if (wantedList && list.id !== wantedList) continue
    const member = findMember(list, key)
    if (member) found.push({ list, member })
  }
  if (found.length > 1) return 'ambiguous'
  return found[0] ?? null
}

export async function mailchimpControlRoutes(app: FastifyInstance, options: ControlRouteOptions): Promise<void> {
  const { store, faults } = options

  const accountOr404 = (accountId: string, reply: FastifyReply): SimAccount | null => {
    const account = store.accounts.get(accountId)
    if (!account) reply.code(404).send({ error: 'account_not_found', accountId })
    return account ?? null
  }
  const entityOk = (entity: string, reply: FastifyReply): boolean => {
    if (ENTITY_ALIASES.has(entity)) return true
    reply.code(404).send({ error: 'unknown_entity', entity, entities: ['contact'] })
    return false
  }

  app.get('/_sim/accounts/lookup', async (request, reply) => {
    const credential = (request.query as { credential?: string }).credential ?? ''
    if (!isWellFormed(credential, options.auth)) return reply.code(400).send({ error: 'malformed_credential' })
    const account = store.accountForCredential(credential)
    return { accountId: account.id, revoked: store.revoked.has(credential) }
  })

  app.get('/_sim/accounts/:accountId', async (request, reply) => {
    const account = accountOr404((request.params as { accountId: string }).accountId, reply)
    if (!account) return reply
    return {
      accountId: account.id,
      name: account.name,
      lists: account.lists.map((list) => ({ id: list.id, name: list.name, members: list.members.length, webhooks: list.webhooks.length })),
    }
  })

  app.post('/_sim/accounts/:accountId/seed', async (request, reply) => {
    const account = accountOr404((request.params as { accountId: string }).accountId, reply)
    if (!account) return reply
    const body = (request.body ?? {}) as { count?: unknown; entity?: unknown; listId?: unknown }
    if (body.entity !== undefined && !entityOk(String(body.entity), reply)) return reply
    const count = Number(body.count ?? store.recordsPerEntity)
    if (!Number.isInteger(count) || count < 0) return reply.code(400).send({ error: 'count must be a non-negative integer' })
    const listId = typeof body.listId === 'string' ? body.listId : undefined
    if (listId && !account.lists.some((list) => list.id === listId)) return reply.code(404).send({ error: 'list_not_found' })
    store.seedAccount(account, count, listId)
    return { accountId: account.id, lists: account.lists.map((list) => ({ id: list.id, members: list.members.length })) }
  })

  app.get('/_sim/accounts/:accountId/:entity', async (request, reply) => {
    const { accountId, entity } = request.params as { accountId: string; entity: string }
    const account = accountOr404(accountId, reply)
    if (!account || !entityOk(entity, reply)) return reply
    return { records: account.lists.flatMap((list) => list.members.map((member) => summary(list, member))) }
  })

  app.post('/_sim/accounts/:accountId/:entity', async (request, reply) => {
    const { accountId, entity } = request.params as { accountId: string; entity: string }
    const account = accountOr404(accountId, reply)
    if (!account || !entityOk(entity, reply)) return reply
    const body = (request.body ?? {}) as { count?: unknown; listId?: unknown }
    const count = Number(body.count ?? 1)
    if (!Number.isInteger(count) || count < 1 || count > 100_000) return reply.code(400).send({ error: 'count must be an integer from 1 to 100000' })
    const listId = typeof body.listId === 'string' ? body.listId : undefined
    if (listId && !account.lists.some((list) => list.id === listId)) return reply.code(404).send({ error: 'list_not_found' })
    const created = store.createMembers(account, count, listId)
    return reply.code(201).send({ created: created.map(({ list, member }) => summary(list, member)) })
  })

  app.patch('/_sim/accounts/:accountId/:entity/:id', async (request, reply) => {
    const { accountId, entity, id } = request.params as { accountId: string; entity: string; id: string }
    const account = accountOr404(accountId, reply)
    if (!account || !entityOk(entity, reply)) return reply
    const body = (request.body ?? {}) as MemberInput & { listId?: string }
    const found = locateMember(account, id, body.listId)
    if (found === 'ambiguous') return reply.code(409).send({ error: 'ambiguous_member', hint: 'use <listId>:<subscriber_hash> or pass listId' })
    if (!found) return reply.code(404).send({ error: 'member_not_found' })
    const { list, member } = found
    if (body.status === 'archived') {
      member.status = 'archived'
      store.touch(member)
    } else {
      const errors = validateMemberInput(body, { requireEmail: false, statusField: null })
      if (errors.length) return reply.code(400).send({ error: 'invalid', errors })
      if (typeof body.email_address === 'string' && findMember(list, subscriberHash(body.email_address)) && subscriberHash(body.email_address) !== member.id) {
        return reply.code(409).send({ error: 'email_taken' })
      }
      // A control change always counts as a change, even if it rewrites the same values.
      if (!applyMemberInput(store, list, member, body, 'status')) store.touch(member)
    }
    return { record: summary(list, member), member: memberJson(member, list) }
  })

  app.delete('/_sim/accounts/:accountId/:entity/:id', async (request, reply) => {
    const { accountId, entity, id } = request.params as { accountId: string; entity: string; id: string }
    const account = accountOr404(accountId, reply)
    if (!account || !entityOk(entity, reply)) return reply
    const query = request.query as { permanent?: string; listId?: string }
    const found = locateMember(account, id, query.listId)
    if (found === 'ambiguous') return reply.code(409).send({ error: 'ambiguous_member' })
    if (!found) return reply.code(404).send({ error: 'member_not_found' })
    if (query.permanent === 'true') {
      store.deletePermanently(found.list, found.member)
      return { deleted: `${found.list.id}:${found.member.id}`, permanent: true }
    }
    found.member.status = 'archived'
    store.touch(found.member)
    return { deleted: `${found.list.id}:${found.member.id}`, permanent: false, record: summary(found.list, found.member) }
  })

  app.post('/_sim/credentials/revoke', async (request, reply) => {
    const credential = (request.body as { credential?: unknown } | undefined)?.credential
    if (typeof credential !== 'string' || credential === '') return reply.code(400).send({ error: 'credential is required' })
    store.revoked.add(credential)
    return { revoked: true }
  })

  app.post('/_sim/faults', async (request, reply) => {
    const plan = (request.body ?? {}) as FaultPlan
    if (!FAULT_KINDS.has(plan.kind)) return reply.code(400).send({ error: 'unknown fault kind', kinds: [...FAULT_KINDS] })
    faults.add(plan)
    return reply.code(201).send({ plans: faults.list() })
  })
  app.get('/_sim/faults', async () => ({ plans: faults.list() }))
  app.delete('/_sim/faults', async (_request, reply) => {
    faults.clear()
    return reply.code(204).send()
  })
  app.get('/_sim/faults/served', async () => ({ served: faults.served }))

  app.post('/_sim/oauth/config', async (request, reply) => {
    const ttl = (request.body as { accessTokenTtlSeconds?: unknown } | undefined)?.accessTokenTtlSeconds
    if (ttl !== null && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0)) {
      return reply.code(400).send({ error: 'accessTokenTtlSeconds must be a positive number, or null for never (Mailchimp)' })
    }
    store.accessTokenTtlSeconds = ttl
    return { accessTokenTtlSeconds: ttl }
  })

  app.get('/_sim/clock', async () => ({ now: new Date(store.clock.now()).toISOString() }))
  app.post('/_sim/clock', async (request, reply) => {
    const seconds = Number((request.body as { advanceSeconds?: unknown } | undefined)?.advanceSeconds)
    if (!Number.isFinite(seconds) || seconds <= 0) return reply.code(400).send({ error: 'advanceSeconds must be a positive number' })
    return { now: new Date(store.clock.advance(seconds)).toISOString() }
  })

  app.get('/_sim/webhooks', async (request) => {
    const wanted = (request.query as { accountId?: string }).accountId
    const webhooks = []
    for (const account of store.accounts.values()) {
      if (wanted && account.id !== wanted) continue
      for (const list of account.lists) for (const webhook of list.webhooks) webhooks.push({ accountId: account.id, listId: list.id, ...webhook })
    }
    return { webhooks }
  })

  app.post('/_sim/webhooks/fire', async (request, reply) => {
    const body = (request.body ?? {}) as { accountId?: string; type?: string; objectId?: string; url?: string; listId?: string; newEmail?: string }
    const account = accountOr404(body.accountId ?? '', reply)
    if (!account) return reply
    if (!WEBHOOK_EVENT_TYPES.includes(body.type as WebhookEventType)) return reply.code(400).send({ error: 'unknown type', types: WEBHOOK_EVENT_TYPES })
    const type = body.type as WebhookEventType
    let target: { list: SimList; member: SimMember } | undefined
    if (body.objectId) {
      const found = locateMember(account, body.objectId, body.listId)
      if (found === 'ambiguous') return reply.code(409).send({ error: 'ambiguous_member' })
      if (!found) return reply.code(404).send({ error: 'member_not_found' })
      target = found
    } else {
      for (const list of account.lists) {
        if (body.listId && list.id !== body.listId) continue
        const member = list.members.find((candidate) => candidate.status !== 'archived')
        if (member) {
          target = { list, member }
          break
        }
      }
      if (!target) return reply.code(404).send({ error: 'no member to fire about' })
    }
    const payload = webhookPayload({ type, list: target.list, member: target.member, nowMs: store.clock.now(), ...(body.newEmail ? { newEmail: body.newEmail } : {}) }).toString()
    const sent: DeliveryResult[] = []
    if (body.url) sent.push(await deliver(body.url, null, payload))
    else {
      for (const webhook of target.list.webhooks) if (webhook.events[type]) sent.push(await deliver(webhook.url, webhook, payload))
    }
    return { type, listId: target.list.id, memberId: `${target.list.id}:${target.member.id}`, contentType: 'application/x-www-form-urlencoded', sent }
  })
}
