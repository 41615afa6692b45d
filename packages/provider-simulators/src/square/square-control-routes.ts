// The simulator's control API (`/_sim/*`, no auth): inspect and change accounts the way a seller
// would in the Square dashboard, revoke credentials, inject faults, fire signed webhooks and
// shorten OAuth token lifetimes. Changes bump `updated_at`/`version`, so they show up through
// Square's own incremental reads (customer search by updated_at, payments updated_at window,
// catalog search begin_time with tombstones).
import type { FastifyInstance } from 'fastify'
import type { FaultPlan, FaultRegistry } from '../common/faults.ts'
import type { SquareRouteContext } from './square-context.ts'
import { SquareApiError } from './square-errors.ts'
import { ACCESS_TOKEN_PATTERN, CLIENT_ID_PATTERN, CLIENT_SECRET_PATTERN } from './square-ids.ts'
import type { Query } from './square-params.ts'
import { queryString } from './square-params.ts'
import type { SquareAccount } from './square-store.ts'
import type { SquareCatalogObject, SquareCustomer, SquareEntity, SquarePayment } from './square-types.ts'
import { SQUARE_ENTITIES } from './square-types.ts'
import { buildEvent, deliver } from './square-webhook-delivery.ts'
import type { DeliveryTarget } from './square-webhook-delivery.ts'

const ENTITY_ALIASES: Record<string, SquareEntity> = {
  customer: 'customer',
  customers: 'customer',
  payment: 'payment',
  payments: 'payment',
  product: 'product',
  products: 'product',
  item: 'product',
  items: 'product',
  catalog: 'product',
}
const FAULT_KINDS = ['rate_limit', 'server_error', 'slow', 'reset', 'expired_token']
/** Fields Square owns; a patch may not rewrite them. */
const PROTECTED = new Set(['id', 'created_at', 'updated_at', 'version', 'version_token', 'type', 'is_deleted'])

class ControlError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

function entityOf(raw: string): SquareEntity {
  const entity = ENTITY_ALIASES[raw]
  if (!entity) throw new ControlError(404, `Unknown entity ${raw}; use one of ${SQUARE_ENTITIES.join(', ')}`)
  return entity
}

function countOf(body: Record<string, unknown>, max = 100_000): number {
  const count = body.count === undefined ? 1 : Number(body.count)
  if (!Number.isInteger(count) || count < 0 || count > max) throw new ControlError(400, `count must be an integer between 0 and ${max}`)
  return count
}

function patchable(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([name]) => !PROTECTED.has(name)))
}

function patchItem(item: SquareCatalogObject, fields: Record<string, unknown>): void {
  const data = item.item_data
  if (!data) throw new ControlError(400, `Catalog object ${item.id} is not an ITEM`)
  const { name, description, is_archived: archived, price_money: price, item_data: nested, ...rest } = fields
  if (typeof name === 'string') data.name = name
  if (typeof description === 'string') {
    data.description = description
    data.description_plaintext = description
    data.description_html = `<p>${description}</p>`
  }
  if (typeof archived === 'boolean') data.is_archived = archived
  if (price && typeof price === 'object') {
    // One price for every variation: enough to model a price change.
    for (const variation of data.variations) variation.item_variation_data.price_money = { ...(price as { amount: number; currency: string }) }
  }
  if (nested && typeof nested === 'object') Object.assign(data, patchable(nested as Record<string, unknown>))
  Object.assign(item, patchable(rest))
}

export function registerControlRoutes(app: FastifyInstance, { store }: SquareRouteContext, faults: FaultRegistry): void {
  const accountOr404 = (accountId: string): SquareAccount => {
    const account = store.accounts.get(accountId)
    if (!account) throw new ControlError(404, `No account ${accountId}; open it with a credential first (GET /_sim/accounts/lookup)`)
    return account
  }

  app.register(async (control) => {
    control.setErrorHandler((error, _request, reply) => {
      if (error instanceof ControlError) return reply.code(error.status).send({ error: error.message })
      if (error instanceof SquareApiError) return reply.code(error.status).send({ error: error.message })
      const status = (error as { statusCode?: number }).statusCode ?? 500
      return reply.code(status).send({ error: error instanceof Error ? error.message : String(error) })
    })

    control.get('/_sim/accounts/lookup', async (request) => {
      const credential = queryString(request.query as Query, 'credential')
      if (!credential) throw new ControlError(400, 'credential is required')
      const grant = store.accessGrants.get(credential) ?? store.refreshGrants.get(credential)
      if (grant) return { accountId: grant.merchantId }
      if (!ACCESS_TOKEN_PATTERN.test(credential)) throw new ControlError(404, 'Not a well-formed Square access token (EAAA + 60 url-safe characters)')
      return { accountId: store.accountForPat(credential).id }
    })

    control.get('/_sim/accounts/:accountId', async (request) => {
      const account = accountOr404((request.params as { accountId: string }).accountId)
      const deletedItems = [...account.catalog.values()].filter((object) => object.type === 'ITEM' && object.is_deleted).length
      return {
        accountId: account.id,
        merchant: account.merchant,
        locations: account.locations,
        counts: {
          customer: account.customers.size,
          payment: account.payments.size,
          product: [...account.catalog.values()].filter((object) => object.type === 'ITEM' && !object.is_deleted).length,
          deletedProduct: deletedItems,
        },
      }
    })

    control.post('/_sim/accounts/:accountId/seed', async (request) => {
      const account = accountOr404((request.params as { accountId: string }).accountId)
      const body = (request.body ?? {}) as Record<string, unknown>
      const count = countOf(body)
      const entities = body.entity === undefined ? SQUARE_ENTITIES : [entityOf(String(body.entity))]
      // Customers first: seeded payments reference them.
      for (const entity of ['customer', 'product', 'payment'] as const) if (entities.includes(entity)) store.seedEntity(account, entity, count)
      return { accountId: account.id, seeded: Object.fromEntries(entities.map((entity) => [entity, count])) }
    })

    control.post('/_sim/accounts/:accountId/:entity', async (request) => {
      const params = request.params as { accountId: string; entity: string }
      const account = accountOr404(params.accountId)
      const entity = entityOf(params.entity)
      const created = store.createRecords(account, entity, countOf((request.body ?? {}) as Record<string, unknown>))
      return { created: created.map((record) => record.id), records: created }
    })

    control.patch('/_sim/accounts/:accountId/:entity/:id', async (request) => {
      const params = request.params as { accountId: string; entity: string; id: string }
      const account = accountOr404(params.accountId)
      const entity = entityOf(params.entity)
      const fields = (request.body ?? {}) as Record<string, unknown>
      if (entity === 'customer') {
        const customer = account.customers.get(params.id)
        if (!customer) throw new ControlError(404, `No customer ${params.id}`)
        Object.assign(customer, patchable(fields) as Partial<SquareCustomer>)
        store.touchCustomer(customer)
        return { record: customer }
      }
      if (entity === 'payment') {
        const payment = account.payments.get(params.id)
        if (!payment) throw new ControlError(404, `No payment ${params.id}`)
        Object.assign(payment, patchable(fields) as Partial<SquarePayment>)
        store.touchPayment(payment)
        return { record: payment }
      }
      const item = account.catalog.get(params.id)
      if (!item || item.type !== 'ITEM' || item.is_deleted) throw new ControlError(404, `No catalog item ${params.id}`)
      patchItem(item, fields)
      store.touchCatalogObject(account, item)
      return { record: item }
    })

    control.delete('/_sim/accounts/:accountId/:entity/:id', async (request) => {
      const params = request.params as { accountId: string; entity: string; id: string }
      const account = accountOr404(params.accountId)
      const entity = entityOf(params.entity)
      if (entity === 'customer') {
        const customer = account.customers.get(params.id)
        if (!customer) throw new ControlError(404, `No customer ${params.id}`)
        account.customers.delete(params.id)
        account.deletedCustomers.set(params.id, customer)
        return { deleted: params.id }
      }
      if (entity === 'payment') throw new ControlError(409, 'Square payments cannot be deleted (cancel or refund them instead: PATCH status)')
      const item = account.catalog.get(params.id)
      if (!item || item.is_deleted) throw new ControlError(404, `No catalog object ${params.id}`)
      // Catalog deletions leave a tombstone that SearchCatalogObjects returns with include_deleted_objects.
      item.is_deleted = true
      store.touchCatalogObject(account, item)
      return { deleted: params.id }
    })

    control.post('/_sim/credentials/revoke', async (request) => {
      const credential = (request.body as { credential?: unknown } | undefined)?.credential
      if (typeof credential !== 'string' || credential === '') throw new ControlError(400, 'credential is required')
      return { revoked: store.revokeCredential(credential) }
    })

    control.post('/_sim/faults', async (request) => {
      const plan = (request.body ?? {}) as FaultPlan
      if (!FAULT_KINDS.includes(plan.kind)) throw new ControlError(400, `kind must be one of ${FAULT_KINDS.join(', ')}`)
      faults.add(plan)
      return { faults: faults.list() }
    })
    control.get('/_sim/faults', async () => ({ faults: faults.list() }))
    control.delete('/_sim/faults', async () => {
      faults.clear()
      return { faults: [] }
    })
    control.get('/_sim/faults/served', async () => ({ served: faults.served }))

    control.get('/_sim/webhooks', async () => ({
      subscriptions: [...store.accounts.values()].flatMap((account) => [...account.subscriptions.values()].map((subscription) => ({ accountId: account.id, ...subscription }))),
    }))

    control.post('/_sim/webhooks/fire', async (request) => {
      const body = (request.body ?? {}) as { accountId?: string; type?: string; objectId?: string; url?: string; signatureKey?: string }
      if (!body.accountId || !body.type) throw new ControlError(400, 'accountId and type are required')
      const account = accountOr404(body.accountId)
      let event
      try {
        event = buildEvent(account, body.type, body.objectId, store.now())
      } catch (error) {
        throw new ControlError((error as { status?: number }).status ?? 400, error instanceof Error ? error.message : String(error))
      }
      const subscriptions = [...account.subscriptions.values()].filter((subscription) => subscription.enabled)
      let targets: DeliveryTarget[]
      if (body.url && body.signatureKey) {
        targets = [{ url: body.url, signatureKey: body.signatureKey, subscriptionId: null }]
      } else if (body.url) {
        const owner = subscriptions.find((subscription) => subscription.notification_url === body.url) ?? subscriptions[0]
        if (!owner) throw new ControlError(409, 'The account has no webhook subscription whose signature key could sign this event')
        targets = [{ url: body.url, signatureKey: owner.signature_key, subscriptionId: owner.id }]
      } else {
        targets = subscriptions
          .filter((subscription) => subscription.event_types.includes(body.type as string))
          .map((subscription) => ({ url: subscription.notification_url, signatureKey: subscription.signature_key, subscriptionId: subscription.id }))
      }
      const deliveries = await Promise.all(targets.map((target) => deliver(event, target)))
      return { event, deliveries }
    })

    control.post('/_sim/oauth/config', async (request) => {
      const body = (request.body ?? {}) as { accessTokenTtlSeconds?: unknown }
      if (body.accessTokenTtlSeconds !== undefined) {
        const ttl = Number(body.accessTokenTtlSeconds)
        if (!Number.isFinite(ttl) || ttl < 0) throw new ControlError(400, 'accessTokenTtlSeconds must be a number >= 0')
        store.accessTokenTtlSeconds = ttl
      }
      return { accessTokenTtlSeconds: store.accessTokenTtlSeconds }
    })

    control.post('/_sim/oauth/clients', async (request) => {
      const body = (request.body ?? {}) as { clientId?: unknown; clientSecret?: unknown }
      if (typeof body.clientId !== 'string' || !CLIENT_ID_PATTERN.test(body.clientId)) throw new ControlError(400, 'clientId must look like sq0idp-…')
      if (typeof body.clientSecret !== 'string' || !CLIENT_SECRET_PATTERN.test(body.clientSecret)) throw new ControlError(400, 'clientSecret must look like sq0csp-…')
      store.clientSecrets.set(body.clientId, body.clientSecret)
      return { clientId: body.clientId }
    })

    control.post('/_sim/oauth/expire', async (request) => {
      const credential = (request.body as { credential?: unknown } | undefined)?.credential
      const grant = typeof credential === 'string' ? store.accessGrants.get(credential) : undefined
      if (!grant) throw new ControlError(404, 'Not an OAuth access token issued by this simulator')
      grant.expiresAt = Date.now() - 1
      return { expired: true }
    })
  })
}
