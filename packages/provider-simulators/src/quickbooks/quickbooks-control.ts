// Control API under /_sim (JSON) for tests and local development: companies and tokens, data
// changes that QuickBooks' own CDC and queries then report, faults, OAuth lifetimes and the
// developer-portal webhook settings.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { FaultKind, FaultPlan, FaultRegistry } from '../common/faults.ts'
import type { QboTokenStore } from './quickbooks-oauth.ts'
import { QBO_ENTITIES, resolveEntity, SEEDED_ENTITIES } from './quickbooks-store.ts'
import type { QboEntityName, QboRealm, QboRealmRegistry } from './quickbooks-store.ts'
import { formatIntuitTime, parseIntuitTime } from './quickbooks-time.ts'
import { buildNotificationBody, webhookTime } from './quickbooks-webhooks.ts'
import type { QboWebhooks } from './quickbooks-webhooks.ts'

export interface ControlDeps {
  realms: QboRealmRegistry
  tokens: QboTokenStore
  faults: FaultRegistry
  webhooks: QboWebhooks
  requestLog: Array<{ method: string; url: string; realmId: string; headers: Record<string, string> }>
}

const FAULT_KINDS: readonly FaultKind[] = ['rate_limit', 'server_error', 'slow', 'reset', 'expired_token']
const WEBHOOK_OPERATIONS = ['Create', 'Update', 'Delete', 'Merge', 'Void', 'Emailed'] as const
const MAX_BATCH = 50_000

function bad(reply: FastifyReply, message: string, status = 400): FastifyReply {
  return reply.code(status).send({ error: message })
}

function positiveCount(value: unknown, fallback?: number): number | undefined {
  const count = value === undefined ? fallback : value
  return typeof count === 'number' && Number.isInteger(count) && count >= 0 && count <= MAX_BATCH ? count : undefined
}

function tokenResponse(realm: QboRealm, issued: ReturnType<QboTokenStore['issue']>): Record<string, unknown> {
  return {
    realmId: realm.realmId,
    companyName: realm.companyName,
    currency: realm.currency,
    accessToken: issued.access_token,
    refreshToken: issued.refresh_token,
    expiresIn: issued.expires_in,
    refreshTokenExpiresIn: issued.x_refresh_token_expires_in,
  }
}

export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { realms, tokens, faults, webhooks, requestLog } = deps

  const realmOr404 = (accountId: string, reply: FastifyReply): QboRealm | undefined => {
    const realm = realms.get(accountId)
    if (!realm) bad(reply, `unknown realm ${accountId}`, 404)
    return realm
  }
  const entityOr400 = (name: string, reply: FastifyReply): QboEntityName | undefined => {
    const entity = resolveEntity(name)
    if (!entity) bad(reply, `unknown entity ${name}; use one of ${QBO_ENTITIES.join(', ')}`)
    return entity
  }

  app.post('/_sim/realms', async (request, reply) => {
    const body = (request.body ?? {}) as { realmId?: unknown; companyName?: unknown; currency?: unknown; count?: unknown; entities?: unknown; entity?: unknown; clientId?: unknown }
    if (body.realmId !== undefined && (typeof body.realmId !== 'string' || !/^\d{1,20}$/.test(body.realmId))) return bad(reply, 'realmId must be a numeric string')
    const count = positiveCount(body.count, undefined)
    if (body.count !== undefined && count === undefined) return bad(reply, `count must be an integer between 0 and ${MAX_BATCH}`)
    const names = Array.isArray(body.entities) ? body.entities : body.entity !== undefined ? [body.entity] : undefined
    let entities: QboEntityName[] | undefined
    if (names) {
      entities = []
      for (const name of names) {
        const entity = typeof name === 'string' ? resolveEntity(name) : undefined
        if (!entity) return bad(reply, `unknown entity ${String(name)}`)
        entities.push(entity)
      }
    }
    const realm = realms.create({
      ...(typeof body.realmId === 'string' ? { realmId: body.realmId } : {}),
      ...(typeof body.companyName === 'string' ? { companyName: body.companyName } : {}),
      ...(typeof body.currency === 'string' ? { currency: body.currency.toUpperCase() } : {}),
      ...(count !== undefined ? { count } : {}),
      ...(entities ? { entities } : {}),
    })
    const clientId = typeof body.clientId === 'string' ? body.clientId : null
    return reply.code(201).send(tokenResponse(realm, tokens.issue(realm.realmId, clientId)))
  })

  app.post('/_sim/realms/:realmId/tokens', async (request, reply) => {
    const realm = realmOr404((request.params as { realmId: string }).realmId, reply)
    if (!realm) return reply
    return reply.code(201).send(tokenResponse(realm, tokens.issue(realm.realmId, null)))
  })

  app.get('/_sim/accounts/lookup', async (request, reply) => {
    const credential = (request.query as { credential?: string }).credential
    const realmId = credential ? tokens.lookup(credential) : undefined
    if (!realmId) return bad(reply, 'no realm for this credential', 404)
    return { accountId: realmId }
  })

  app.post('/_sim/accounts/:accountId/seed', async (request, reply) => {
    const realm = realmOr404((request.params as { accountId: string }).accountId, reply)
    if (!realm) return reply
    const body = (request.body ?? {}) as { count?: unknown; entity?: unknown }
    const count = positiveCount(body.count)
    if (count === undefined) return bad(reply, `count must be an integer between 0 and ${MAX_BATCH}`)
    let targets: readonly QboEntityName[] = SEEDED_ENTITIES
    if (body.entity !== undefined) {
      const entity = entityOr400(String(body.entity), reply)
      if (!entity) return reply
      targets = [entity]
    }
    const created: Record<string, string[]> = {}
    for (const entity of targets) created[entity] = realm.seed(entity, count).map((stored) => String(stored.id))
    return reply.code(201).send({ created })
  })

  app.get('/_sim/accounts/:accountId/:entity', async (request, reply) => {
    const params = request.params as { accountId: string; entity: string }
    const realm = realmOr404(params.accountId, reply)
    const entity = realm && entityOr400(params.entity, reply)
    if (!realm || !entity) return reply
    return {
      entity,
      records: [...realm.records(entity).values()].map((stored) => stored.object),
      deleted: realm.tombstones(entity).map((tombstone) => ({ Id: String(tombstone.id), deletedAt: formatIntuitTime(tombstone.deletedMs) })),
    }
  })

  app.post('/_sim/accounts/:accountId/:entity', async (request, reply) => {
    const params = request.params as { accountId: string; entity: string }
    const realm = realmOr404(params.accountId, reply)
    const entity = realm && entityOr400(params.entity, reply)
    if (!realm || !entity) return reply
    const count = positiveCount((request.body as { count?: unknown } | undefined)?.count, 1)
    if (count === undefined) return bad(reply, `count must be an integer between 0 and ${MAX_BATCH}`)
    const created = realm.seed(entity, count)
    return reply.code(201).send({ ids: created.map((stored) => String(stored.id)), records: created.map((stored) => stored.object) })
  })

  app.get('/_sim/accounts/:accountId/:entity/:id', async (request, reply) => {
    const params = request.params as { accountId: string; entity: string; id: string }
    const realm = realmOr404(params.accountId, reply)
    const entity = realm && entityOr400(params.entity, reply)
    if (!realm || !entity) return reply
    const stored = realm.get(entity, params.id)
    return stored ? stored.object : bad(reply, `${entity} ${params.id} not found`, 404)
  })

  app.patch('/_sim/accounts/:accountId/:entity/:id', async (request, reply) => {
    const params = request.params as { accountId: string; entity: string; id: string }
    const realm = realmOr404(params.accountId, reply)
    const entity = realm && entityOr400(params.entity, reply)
    if (!realm || !entity) return reply
    const stored = realm.get(entity, params.id)
    if (!stored) return bad(reply, `${entity} ${params.id} not found`, 404)
    const fields = request.body
    if (!fields || typeof fields !== 'object' || Array.isArray(fields)) return bad(reply, 'body must be an object of QuickBooks fields')
    return realm.update(entity, stored, fields as Record<string, unknown>).object
  })

  app.delete('/_sim/accounts/:accountId/:entity/:id', async (request, reply) => {
    const params = request.params as { accountId: string; entity: string; id: string }
    const realm = realmOr404(params.accountId, reply)
    const entity = realm && entityOr400(params.entity, reply)
    if (!realm || !entity) return reply
    const stored = realm.get(entity, params.id)
    if (!stored) return bad(reply, `${entity} ${params.id} not found`, 404)
    const soft = entity === 'Customer' || entity === 'Item'
    realm.remove(entity, stored)
    return { deleted: true, soft, id: params.id }
  })

  app.post('/_sim/credentials/revoke', async (request, reply) => {
    const credential = (request.body as { credential?: unknown } | undefined)?.credential
    if (typeof credential !== 'string') return bad(reply, 'credential is required')
    if (!tokens.revoke(credential)) return bad(reply, 'unknown credential', 404)
    return { revoked: true }
  })

  app.post('/_sim/faults', async (request, reply) => {
    const plan = request.body as FaultPlan | undefined
    if (!plan || !FAULT_KINDS.includes(plan.kind)) return bad(reply, `kind must be one of ${FAULT_KINDS.join(', ')}`)
    faults.add(plan)
    return reply.code(201).send({ faults: faults.list() })
  })
  app.get('/_sim/faults', async () => ({ faults: faults.list() }))
  app.delete('/_sim/faults', async () => {
    faults.clear()
    return { faults: [] }
  })
  app.get('/_sim/faults/served', async () => ({ served: faults.served }))

  app.get('/_sim/oauth/config', async () => tokens.config)
  app.post('/_sim/oauth/config', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>
    for (const key of ['accessTokenTtlSeconds', 'refreshTokenTtlSeconds', 'authCodeTtlSeconds'] as const) {
      const value = body[key]
      if (value === undefined) continue
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return bad(reply, `${key} must be a non-negative number`)
      tokens.config[key] = value
    }
    return tokens.config
  })
  app.post('/_sim/oauth/clients', async (request, reply) => {
    const body = (request.body ?? {}) as { clientId?: unknown; clientSecret?: unknown }
    if (typeof body.clientId !== 'string' || typeof body.clientSecret !== 'string' || body.clientSecret === '') return bad(reply, 'clientId and clientSecret are required')
    tokens.clients.set(body.clientId, body.clientSecret)
    return reply.code(201).send({ clientId: body.clientId })
  })

  app.post('/_sim/webhooks', async (request, reply) => {
    const body = (request.body ?? {}) as { url?: unknown; verifierToken?: unknown; autoDeliver?: unknown }
    if (typeof body.url !== 'string' || !/^https?:\/\//.test(body.url)) return bad(reply, 'url must be an http(s) URL')
    if (body.verifierToken !== undefined && (typeof body.verifierToken !== 'string' || body.verifierToken === '')) return bad(reply, 'verifierToken must be a non-empty string')
    return reply.code(201).send(webhooks.configure(body.url, body.verifierToken as string | undefined, body.autoDeliver === true))
  })
  app.get('/_sim/webhooks', async () => ({ webhooks: webhooks.config ? [webhooks.config] : [] }))
  app.delete('/_sim/webhooks', async () => {
    webhooks.config = null
    return { webhooks: [] }
  })
  app.get('/_sim/webhooks/deliveries', async () => ({ deliveries: webhooks.deliveries }))

  app.post('/_sim/webhooks/fire', async (request, reply) => {
    const body = (request.body ?? {}) as { accountId?: unknown; type?: unknown; objectId?: unknown; url?: unknown; lastUpdated?: unknown; verifierToken?: unknown }
    if (typeof body.accountId !== 'string') return bad(reply, 'accountId (the realm id) is required')
    const realm = realmOr404(body.accountId, reply)
    if (!realm) return reply
    const [entityName, operationName] = String(body.type ?? '').split('.')
    const entity = entityName ? resolveEntity(entityName) : undefined
    const operation = WEBHOOK_OPERATIONS.find((candidate) => candidate.toLowerCase() === (operationName ?? '').toLowerCase())
    if (!entity || !operation) return bad(reply, `type must look like Customer.Update (operations: ${WEBHOOK_OPERATIONS.join(', ')})`)
    let objectId = typeof body.objectId === 'string' ? body.objectId : undefined
    // The notification describes a change happening now unless the caller dates it.
    let lastUpdatedMs = Date.now()
    if (objectId === undefined) {
      const newest = [...realm.records(entity).values()].pop()
      if (!newest) return bad(reply, `realm has no ${entity} to notify about; pass objectId`)
      objectId = String(newest.id)
    }
    if (typeof body.lastUpdated === 'string') {
      lastUpdatedMs = parseIntuitTime(body.lastUpdated)
      if (Number.isNaN(lastUpdatedMs)) return bad(reply, 'lastUpdated must be an ISO date-time')
    }
    const targetUrl = typeof body.url === 'string' ? body.url : webhooks.config?.url
    const verifierToken = typeof body.verifierToken === 'string' ? body.verifierToken : webhooks.config?.verifierToken
    if (!targetUrl || !verifierToken) return bad(reply, 'no webhook endpoint configured; POST /_sim/webhooks first or pass url and verifierToken', 409)
    const payload = buildNotificationBody(realm.realmId, [{ name: entity, id: objectId, operation, lastUpdated: webhookTime(lastUpdatedMs) }])
    const delivery = await webhooks.deliver(targetUrl, verifierToken, payload)
    return { sent: { url: delivery.url, headers: delivery.headers, body: delivery.body }, status: delivery.status, ...(delivery.error ? { error: delivery.error } : {}) }
  })

  app.get('/_sim/requests', async (request) => {
    const realmId = (request.query as { realmId?: string }).realmId
    return { requests: realmId ? requestLog.filter((entry) => entry.realmId === realmId) : requestLog }
  })
}
