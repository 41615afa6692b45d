// The simulator's control API under /_sim (JSON): accounts, data changes (which go through the
// same operations as /v1, so they produce the same events), revoked credentials, faults and
// webhooks.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { FaultPlan, FaultRegistry } from '../common/faults.ts'
import { fakePerson, fakeProductName } from '../common/prng.ts'
import { createCustomer, createProduct, deleteCustomer, deleteProduct, repriceProduct, updateCustomer, updatePrice, updateProduct } from './stripe-catalog.ts'
import type { StripeObject } from './stripe-collection.ts'
import { idPrefix } from './stripe-ids.ts'
import type { ChargeObject, EventObject } from './stripe-objects.ts'
import { asParams, optInt, optString, type Params } from './stripe-params.ts'
import { createPaymentIntent, createRefund, liveCharge, updateCharge } from './stripe-payments.ts'
import { SEED_ENTITIES, seedEntity, type SeedEntity } from './stripe-seed.ts'
import type { SimAccount, StripeState } from './stripe-state.ts'
import { EVENT_TYPES, deliver, deliverToSubscribers, eventPayload, type Delivery } from './stripe-webhooks.ts'

export class WebhookLog {
  autoDeliver: boolean
  readonly deliveries: Delivery[] = []

  constructor(autoDeliver: boolean) {
    this.autoDeliver = autoDeliver
  }

  record(items: Delivery[]): void {
    this.deliveries.push(...items)
    // Bounded so a long-running simulator does not grow without limit.
    if (this.deliveries.length > 1000) this.deliveries.splice(0, this.deliveries.length - 1000)
  }
}

export interface ControlDeps {
  state: StripeState
  faults: FaultRegistry
  webhooks: WebhookLog
}

type ControlEntity = SeedEntity | 'price'

const ENTITY_ALIASES: Record<string, ControlEntity> = {
  customer: 'customer',
  customers: 'customer',
  product: 'product',
  products: 'product',
  payment: 'payment',
  payments: 'payment',
  charge: 'payment',
  charges: 'payment',
  price: 'price',
  prices: 'price',
}

function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: { message } })
}

function countOf(body: Params, fallback: number): number {
  const count = optInt(body, 'count') ?? fallback
  if (count < 0 || count > 200_000) throw new RangeError('count must be between 0 and 200000')
  return count
}

function createRecords(state: StripeState, account: SimAccount, entity: SeedEntity, count: number): StripeObject[] {
  const created: StripeObject[] = []
  for (let i = 0; i < count; i++) {
    const index = 1_000_000 + account.customers.size + account.products.size + account.charges.size + i
    if (entity === 'customer') {
      const person = fakePerson(account.rng, index)
      created.push(createCustomer(state, account, { name: `${person.givenName} ${person.familyName}`, email: person.email, phone: person.phone }, null))
    } else if (entity === 'product') {
      created.push(createProduct(state, account, { name: fakeProductName(account.rng, index), default_price_data: { currency: account.defaultCurrency, unit_amount: account.rng.int(5, 300) * 100 } }, null))
    } else {
      const customers = account.customers.all()
      const customer = customers.length > 0 ? customers[account.rng.int(0, customers.length - 1)] : undefined
      const intent = createPaymentIntent(
        state,
        account,
        { amount: account.rng.int(5, 400) * 100, currency: account.defaultCurrency, customer: customer?.id, confirm: true, payment_method: 'pm_card_visa', description: `Tickets order #${index}` },
        null,
      )
      created.push(account.charges.get(intent.latest_charge as string) as ChargeObject)
    }
  }
  return created
}

function patchRecord(state: StripeState, account: SimAccount, entity: ControlEntity, id: string, fields: Params): StripeObject {
  switch (entity) {
    case 'customer':
      return updateCustomer(state, account, id, fields, null)
    case 'product': {
      const { unit_amount: unitAmount, currency, ...rest } = fields
      if (unitAmount !== undefined) repriceProduct(state, account, id, optInt({ unitAmount }, 'unitAmount', 'unit_amount') as number, optString({ currency }, 'currency'), null)
      return Object.keys(rest).length > 0 || unitAmount === undefined ? updateProduct(state, account, id, rest, null) : (account.products.get(id) as StripeObject)
    }
    case 'price':
      return updatePrice(state, account, id, fields, null)
    case 'payment': {
      const { refunded, amount_refunded: amountRefunded, ...rest } = fields
      if (refunded === true || amountRefunded !== undefined) {
        const charge = liveCharge(account, id)
        const target = amountRefunded === undefined ? charge.amount : (optInt({ amountRefunded }, 'amountRefunded', 'amount_refunded') as number)
        createRefund(state, account, { charge: id, amount: target - charge.amount_refunded }, null)
      }
      return Object.keys(rest).length > 0 ? updateCharge(state, account, id, rest, null) : liveCharge(account, id)
    }
  }
}

function deleteRecord(state: StripeState, account: SimAccount, entity: ControlEntity, id: string): Record<string, unknown> {
  switch (entity) {
    case 'customer':
      return deleteCustomer(state, account, id, null)
    case 'product':
      return deleteProduct(state, account, id, null, true)
    case 'payment': {
      // Stripe never deletes a payment; the nearest thing is refunding it in full.
      const refund = createRefund(state, account, { charge: id }, null)
      return { id, object: 'charge', refunded: true, refund: refund.id }
    }
    case 'price':
      throw new RangeError('prices cannot be deleted on Stripe; PATCH {"active": false} instead')
  }
}

/** The object a fired event carries: the named one, or the newest of the event's kind. */
function eventSubject(account: SimAccount, type: string, objectId: string | undefined): StripeObject | undefined {
  const prefix = type.split('.')[0]
  if (objectId) {
    if (idPrefix(objectId) === 'cus') return account.customers.get(objectId) ?? account.customers.deleted(objectId)
    const collections: Record<string, { get(id: string): StripeObject | undefined }> = {
      prod: account.products,
      price: account.prices,
      pi: account.paymentIntents,
      ch: account.charges,
      re: account.refunds,
    }
    return collections[idPrefix(objectId)]?.get(objectId)
  }
  const newest: Record<string, () => StripeObject | undefined> = {
    customer: () => account.customers.newest(),
    product: () => account.products.newest(),
    price: () => account.prices.newest(),
    payment_intent: () => account.paymentIntents.newest(),
    charge: () => account.charges.newest(),
    refund: () => account.refunds.newest(),
  }
  return newest[prefix ?? '']?.()
}

export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { state, faults, webhooks } = deps

  const accountOr404 = (accountId: string, reply: FastifyReply): SimAccount | null => {
    const account = state.accounts.get(accountId)
    if (!account) fail(reply, 404, `No such account: ${accountId}`)
    return account ?? null
  }

  app.get('/_sim/accounts/lookup', async (request, reply) => {
    const credential = optString(asParams(request.query), 'credential')
    if (!credential) return fail(reply, 400, 'credential is required')
    const account = state.accountForCredential(credential)
    if (!account) return fail(reply, 404, 'No account for this credential (malformed or unknown)')
    return { accountId: account.id }
  })

  app.get<{ Params: { accountId: string } }>('/_sim/accounts/:accountId', async (request, reply) => {
    const account = accountOr404(request.params.accountId, reply)
    if (!account) return reply
    return {
      accountId: account.id,
      displayName: account.displayName,
      connected: [...account.connected],
      counts: {
        customers: account.customers.size,
        products: account.products.size,
        prices: account.prices.size,
        payment_intents: account.paymentIntents.size,
        charges: account.charges.size,
        refunds: account.refunds.size,
        balance_transactions: account.balanceTransactions.size,
        events: account.events.size,
        webhook_endpoints: account.webhookEndpoints.size,
      },
    }
  })

  app.post<{ Params: { accountId: string } }>('/_sim/accounts/:accountId/seed', async (request, reply) => {
    const account = accountOr404(request.params.accountId, reply)
    if (!account) return reply
    const body = asParams(request.body)
    const entityName = optString(body, 'entity')
    const entity = entityName === undefined ? undefined : ENTITY_ALIASES[entityName]
    if (entityName !== undefined && (entity === undefined || entity === 'price')) return fail(reply, 400, `entity must be one of ${SEED_ENTITIES.join(', ')}`)
    const count = countOf(body, state.recordsPerEntity)
    for (const name of entity ? [entity as SeedEntity] : SEED_ENTITIES) seedEntity(state, account, name, count)
    return { accountId: account.id, entity: entity ?? null, count }
  })

  // Ground truth for tests: every live id of an entity, newest first, straight from the store.
  app.get<{ Params: { accountId: string; entity: string } }>('/_sim/accounts/:accountId/:entity', async (request, reply) => {
    const account = accountOr404(request.params.accountId, reply)
    if (!account) return reply
    const entity = ENTITY_ALIASES[request.params.entity]
    if (!entity) return fail(reply, 400, 'entity must be one of customer, product, payment, price')
    const collection = { customer: account.customers, product: account.products, payment: account.charges, price: account.prices }[entity]
    return { ids: [...collection.descending()].map((object) => object.id) }
  })

  app.post<{ Params: { accountId: string; entity: string } }>('/_sim/accounts/:accountId/:entity', async (request, reply) => {
    const account = accountOr404(request.params.accountId, reply)
    if (!account) return reply
    const entity = ENTITY_ALIASES[request.params.entity]
    if (!entity || entity === 'price') return fail(reply, 400, `entity must be one of ${SEED_ENTITIES.join(', ')}`)
    const objects = createRecords(state, account, entity, countOf(asParams(request.body), 1))
    return reply.code(201).send({ ids: objects.map((object) => object.id), objects })
  })

  app.patch<{ Params: { accountId: string; entity: string; id: string } }>('/_sim/accounts/:accountId/:entity/:id', async (request, reply) => {
    const account = accountOr404(request.params.accountId, reply)
    if (!account) return reply
    const entity = ENTITY_ALIASES[request.params.entity]
    if (!entity) return fail(reply, 400, 'entity must be one of customer, product, payment, price')
    return patchRecord(state, account, entity, request.params.id, asParams(request.body))
  })

  app.delete<{ Params: { accountId: string; entity: string; id: string } }>('/_sim/accounts/:accountId/:entity/:id', async (request, reply) => {
    const account = accountOr404(request.params.accountId, reply)
    if (!account) return reply
    const entity = ENTITY_ALIASES[request.params.entity]
    if (!entity) return fail(reply, 400, 'entity must be one of customer, product, payment')
    return deleteRecord(state, account, entity, request.params.id)
  })

  app.post('/_sim/credentials/revoke', async (request, reply) => {
    const credential = optString(asParams(request.body), 'credential')
    if (!credential) return fail(reply, 400, 'credential is required')
    const refresh = state.refreshTokens.get(credential)
    if (refresh) {
      refresh.revoked = true
      return { revoked: true, kind: 'refresh_token' }
    }
    const resolved = state.resolveKey(credential)
    const known = state.credentials.get(credential)
    if (resolved.status === 'malformed' || !known) return fail(reply, 404, 'Unknown credential')
    known.revoked = true
    return { revoked: true, kind: known.kind === 'oauth' ? 'access_token' : 'secret_key', accountId: known.accountId }
  })

  app.post('/_sim/oauth/config', async (request) => {
    const ttl = optInt(asParams(request.body), 'authorizationCodeTtlSeconds')
    if (ttl !== undefined) state.authorizationCodeTtlSeconds = ttl
    return { authorizationCodeTtlSeconds: state.authorizationCodeTtlSeconds, accessTokenTtlSeconds: null }
  })

  app.post('/_sim/faults', async (request, reply) => {
    const plan = asParams(request.body) as unknown as FaultPlan
    if (!['rate_limit', 'server_error', 'slow', 'reset', 'expired_token'].includes(plan.kind)) return fail(reply, 400, 'kind must be rate_limit, server_error, slow, reset or expired_token')
    faults.add(plan)
    return reply.code(201).send({ plans: faults.list() })
  })
  app.get('/_sim/faults', async () => ({ plans: faults.list() }))
  app.delete('/_sim/faults', async () => {
    faults.clear()
    return { plans: [] }
  })
  app.get('/_sim/faults/served', async () => ({ served: faults.served }))

  app.get('/_sim/webhooks', async () => {
    const endpoints: unknown[] = []
    for (const account of state.accounts.values()) {
      for (const endpoint of account.webhookEndpoints.all()) endpoints.push({ accountId: account.id, ...endpoint })
    }
    return { autoDeliver: webhooks.autoDeliver, endpoints, deliveries: webhooks.deliveries }
  })

  app.post('/_sim/webhooks/config', async (request) => {
    const autoDeliver = asParams(request.body).autoDeliver
    if (typeof autoDeliver === 'boolean') webhooks.autoDeliver = autoDeliver
    return { autoDeliver: webhooks.autoDeliver }
  })

  app.post('/_sim/webhooks/fire', async (request, reply) => {
    const body = asParams(request.body)
    const accountId = optString(body, 'accountId')
    const type = optString(body, 'type')
    if (!accountId || !type) return fail(reply, 400, 'accountId and type are required')
    const account = accountOr404(accountId, reply)
    if (!account) return reply
    if (!(EVENT_TYPES as readonly string[]).includes(type)) return fail(reply, 400, `type must be one of ${EVENT_TYPES.join(', ')}`)
    const subject = eventSubject(account, type, optString(body, 'objectId'))
    if (!subject) return fail(reply, 400, `No object for ${type} in ${account.id}${body.objectId ? `: ${String(body.objectId)}` : ''}`)
    const timestamp = optInt(body, 'timestamp')
    const url = optString(body, 'url')
    // Delivered below, not by auto-delivery, so it reaches each endpoint once.
    const event: EventObject = state.emit(account, type, subject, { notify: false })
    let deliveries: Delivery[]
    if (url) {
      const registered = account.webhookEndpoints.all().find((endpoint) => endpoint.url === url)
      const secret = registered?.secret ?? optString(body, 'secret')
      if (!secret) return fail(reply, 400, 'url is not a registered endpoint of this account: pass secret to sign with')
      deliveries = [await deliver({ url, secret, endpointId: registered?.id ?? null }, event, account, eventPayload(event, null, registered?.api_version ?? null), timestamp)]
    } else {
      deliveries = await deliverToSubscribers(state, account, event, timestamp)
    }
    webhooks.record(deliveries)
    return { event, deliveries }
  })
}
