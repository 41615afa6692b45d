// The /v1 resources. Each route parses Stripe-style params (query for GET/DELETE, form body for
// POST) and delegates to the same operations the control API uses.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { createCustomer, createPrice, createProduct, deleteCustomer, deleteProduct, retrieveCustomer, updateCustomer, updatePrice, updateProduct } from './stripe-catalog.ts'
import { accountOf, originOf } from './stripe-context.ts'
import { invalidRequest, noSuch } from './stripe-errors.ts'
import { listObjects, readExpand, render } from './stripe-list.ts'
import type { BalanceTransactionObject, ChargeObject, EventObject, PaymentIntentObject, PriceObject, ProductObject, RefundObject } from './stripe-objects.ts'
import { webhookEndpointView } from './stripe-objects.ts'
import { asParams, checkKnown, optBool, optString, optStringArray, type Params } from './stripe-params.ts'
import { cancelPaymentIntent, confirmPaymentIntent, createPaymentIntent, createRefund, liveCharge, livePaymentIntent, updateCharge, updatePaymentIntent } from './stripe-payments.ts'
import { EVENT_RETENTION_SECONDS, nowSeconds, type SimAccount, type StripeState } from './stripe-state.ts'
import { createWebhookEndpoint, deleteWebhookEndpoint, liveEndpoint, updateWebhookEndpoint } from './stripe-webhooks.ts'

type IdRequest = FastifyRequest<{ Params: { id: string } }>

function query(request: FastifyRequest): Params {
  return asParams(request.query)
}

function body(request: FastifyRequest): Params {
  return asParams(request.body)
}

export function accountObject(account: SimAccount): Record<string, unknown> {
  return {
    id: account.id,
    object: 'account',
    business_profile: { mcc: '7922', name: account.displayName, product_description: 'Live events and ticketing', support_email: account.email, support_phone: null, support_url: null, url: null },
    business_type: 'company',
    capabilities: { card_payments: 'active', transfers: 'active' },
    charges_enabled: true,
    controller: { type: 'account' },
    country: account.country,
    created: account.created,
    default_currency: account.defaultCurrency,
    details_submitted: true,
    email: account.email,
    payouts_enabled: true,
    settings: { dashboard: { display_name: account.displayName, timezone: 'Europe/London' } },
    type: 'standard',
  }
}

function balanceObject(account: SimAccount): Record<string, unknown> {
  const now = nowSeconds()
  const available = new Map<string, number>()
  const pending = new Map<string, number>()
  for (const txn of account.balanceTransactions.all()) {
    const bucket = (txn.available_on as number) <= now ? available : pending
    bucket.set(txn.currency, (bucket.get(txn.currency) ?? 0) + txn.net)
  }
  const currencies = new Set([...available.keys(), ...pending.keys(), account.defaultCurrency])
  const rows = (bucket: Map<string, number>): unknown[] => [...currencies].sort().map((currency) => ({ amount: bucket.get(currency) ?? 0, currency, source_types: { card: bucket.get(currency) ?? 0 } }))
  return { object: 'balance', available: rows(available), livemode: false, pending: rows(pending) }
}

function retrieveParams(params: Params): string[] {
  checkKnown(params, ['expand'])
  return readExpand(params)
}

/** Matches `type` as Stripe does, including a trailing `*` wildcard (`customer.*`). */
function typeMatcher(params: Params): (event: EventObject) => boolean {
  const type = optString(params, 'type')
  const types = optStringArray(params, 'types')
  if (type && types) throw invalidRequest('You may only specify one of these parameters: type, types.', { param: 'types' })
  if (types && types.length > 20) throw invalidRequest('You may specify at most 20 event types.', { param: 'types' })
  const patterns = type ? [type] : (types ?? [])
  if (patterns.length === 0) return () => true
  const tests = patterns.map((pattern) => (pattern.endsWith('*') ? (value: string) => value.startsWith(pattern.slice(0, -1)) : (value: string) => value === pattern))
  return (event) => tests.some((test) => test(event.type))
}

export function registerResourceRoutes(app: FastifyInstance, state: StripeState): void {
  app.get('/v1/account', async (request) => {
    retrieveParams(query(request))
    return accountObject(accountOf(request))
  })

  app.get('/v1/accounts/:id', async (request: IdRequest) => {
    retrieveParams(query(request))
    const account = accountOf(request)
    const id = request.params.id
    if (id === account.id) return accountObject(account)
    const target = state.accounts.get(id)
    if (!target || !account.connected.has(id)) throw noSuch('account', id)
    return accountObject(target)
  })

  app.get('/v1/balance', async (request) => {
    retrieveParams(query(request))
    return balanceObject(accountOf(request))
  })

  // Customers
  app.post('/v1/customers', async (request) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, createCustomer(state, account, params, originOf(request)), readExpand(params))
  })
  app.get('/v1/customers', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const email = optString(params, 'email')
    return listObjects(state, account, params, {
      collection: account.customers,
      url: '/v1/customers',
      kind: 'customer',
      extraParams: ['email', 'test_clock'],
      filter: email === undefined ? undefined : (customer) => customer.email === email,
    })
  })
  app.get('/v1/customers/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    return render(state, account, retrieveCustomer(account, request.params.id), retrieveParams(query(request)))
  })
  app.post('/v1/customers/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, updateCustomer(state, account, request.params.id, params, originOf(request)), readExpand(params))
  })
  app.delete('/v1/customers/:id', async (request: IdRequest) => deleteCustomer(state, accountOf(request), request.params.id, originOf(request)))

  // Products
  app.post('/v1/products', async (request) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, createProduct(state, account, params, originOf(request)), readExpand(params))
  })
  app.get('/v1/products', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const active = optBool(params, 'active')
    const ids = optStringArray(params, 'ids')
    if (ids && (params.starting_after !== undefined || params.ending_before !== undefined)) {
      throw invalidRequest('You cannot use `ids` with `starting_after` or `ending_before`.', { param: 'ids' })
    }
    const idSet = ids ? new Set(ids) : null
    return listObjects(state, account, params, {
      collection: account.products,
      url: '/v1/products',
      kind: 'product',
      extraParams: ['active', 'ids', 'shippable', 'url'],
      filter: (product: ProductObject) => (active === undefined || product.active === active) && (idSet === null || idSet.has(product.id)),
    })
  })
  app.get('/v1/products/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const product = account.products.get(request.params.id)
    if (!product) throw noSuch('product', request.params.id)
    return render(state, account, product, retrieveParams(query(request)))
  })
  app.post('/v1/products/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, updateProduct(state, account, request.params.id, params, originOf(request)), readExpand(params))
  })
  app.delete('/v1/products/:id', async (request: IdRequest) => deleteProduct(state, accountOf(request), request.params.id, originOf(request)))

  // Prices
  app.post('/v1/prices', async (request) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, createPrice(state, account, params, originOf(request)), readExpand(params))
  })
  app.get('/v1/prices', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const active = optBool(params, 'active')
    const product = optString(params, 'product')
    const currency = optString(params, 'currency')
    const type = optString(params, 'type')
    return listObjects(state, account, params, {
      collection: account.prices,
      url: '/v1/prices',
      kind: 'price',
      extraParams: ['active', 'currency', 'lookup_keys', 'product', 'recurring', 'type'],
      filter: (price: PriceObject) =>
        (active === undefined || price.active === active) && (product === undefined || price.product === product) && (currency === undefined || price.currency === currency.toLowerCase()) && (type === undefined || price.type === type),
    })
  })
  app.get('/v1/prices/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const price = account.prices.get(request.params.id)
    if (!price) throw noSuch('price', request.params.id)
    return render(state, account, price, retrieveParams(query(request)))
  })
  app.post('/v1/prices/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, updatePrice(state, account, request.params.id, params, originOf(request)), readExpand(params))
  })

  // PaymentIntents
  app.post('/v1/payment_intents', async (request) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, createPaymentIntent(state, account, params, originOf(request)), readExpand(params))
  })
  app.get('/v1/payment_intents', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const customer = optString(params, 'customer')
    return listObjects(state, account, params, {
      collection: account.paymentIntents,
      url: '/v1/payment_intents',
      kind: 'payment_intent',
      extraParams: ['customer'],
      filter: customer === undefined ? undefined : (intent: PaymentIntentObject) => intent.customer === customer,
    })
  })
  app.get('/v1/payment_intents/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = query(request)
    checkKnown(params, ['expand', 'client_secret'])
    return render(state, account, livePaymentIntent(account, request.params.id), readExpand(params))
  })
  app.post('/v1/payment_intents/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, updatePaymentIntent(account, request.params.id, params), readExpand(params))
  })
  app.post('/v1/payment_intents/:id/confirm', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, confirmPaymentIntent(state, account, request.params.id, params, originOf(request)), readExpand(params))
  })
  app.post('/v1/payment_intents/:id/cancel', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, cancelPaymentIntent(state, account, request.params.id, params, originOf(request)), readExpand(params))
  })

  // Charges
  app.get('/v1/charges', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const customer = optString(params, 'customer')
    const intent = optString(params, 'payment_intent')
    return listObjects(state, account, params, {
      collection: account.charges,
      url: '/v1/charges',
      kind: 'charge',
      extraParams: ['customer', 'payment_intent', 'transfer_group'],
      filter: (charge: ChargeObject) => (customer === undefined || charge.customer === customer) && (intent === undefined || charge.payment_intent === intent),
    })
  })
  app.get('/v1/charges/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    return render(state, account, liveCharge(account, request.params.id), retrieveParams(query(request)))
  })
  app.post('/v1/charges/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, updateCharge(state, account, request.params.id, params, originOf(request)), readExpand(params))
  })

  // Refunds
  app.post('/v1/refunds', async (request) => {
    const account = accountOf(request)
    const params = body(request)
    return render(state, account, createRefund(state, account, params, originOf(request)), readExpand(params))
  })
  app.get('/v1/refunds', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const charge = optString(params, 'charge')
    const intent = optString(params, 'payment_intent')
    return listObjects(state, account, params, {
      collection: account.refunds,
      url: '/v1/refunds',
      kind: 'refund',
      extraParams: ['charge', 'payment_intent'],
      filter: (refund: RefundObject) => (charge === undefined || refund.charge === charge) && (intent === undefined || refund.payment_intent === intent),
    })
  })
  app.get('/v1/refunds/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const refund = account.refunds.get(request.params.id)
    if (!refund) throw noSuch('refund', request.params.id)
    return render(state, account, refund, retrieveParams(query(request)))
  })

  // Balance transactions
  app.get('/v1/balance_transactions', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const type = optString(params, 'type')
    const source = optString(params, 'source')
    const currency = optString(params, 'currency')
    return listObjects(state, account, params, {
      collection: account.balanceTransactions,
      url: '/v1/balance_transactions',
      kind: 'balance_transaction',
      extraParams: ['currency', 'payout', 'source', 'type'],
      filter: (txn: BalanceTransactionObject) => (type === undefined || txn.type === type) && (source === undefined || txn.source === source) && (currency === undefined || txn.currency === currency.toLowerCase()),
    })
  })
  app.get('/v1/balance_transactions/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    const txn = account.balanceTransactions.get(request.params.id)
    if (!txn) throw noSuch('balance_transaction', request.params.id)
    return render(state, account, txn, retrieveParams(query(request)))
  })

  // Events
  app.get('/v1/events', async (request) => {
    const account = accountOf(request)
    const params = query(request)
    const matches = typeMatcher(params)
    optBool(params, 'delivery_success')
    return listObjects(state, account, params, {
      collection: account.events,
      url: '/v1/events',
      kind: 'event',
      extraParams: ['type', 'types', 'delivery_success'],
      filter: matches,
      notBefore: nowSeconds() - EVENT_RETENTION_SECONDS,
    })
  })
  app.get('/v1/events/:id', async (request: IdRequest) => {
    const account = accountOf(request)
    retrieveParams(query(request))
    const event = account.events.get(request.params.id)
    if (!event || event.created < nowSeconds() - EVENT_RETENTION_SECONDS) throw noSuch('event', request.params.id)
    return event
  })

  // Webhook endpoints
  app.post('/v1/webhook_endpoints', async (request) => webhookEndpointView(createWebhookEndpoint(accountOf(request), body(request)), true))
  app.get('/v1/webhook_endpoints', async (request) => {
    const account = accountOf(request)
    const list = listObjects(state, account, query(request), { collection: account.webhookEndpoints, url: '/v1/webhook_endpoints', kind: 'webhook_endpoint' })
    list.data = (list.data as Array<Parameters<typeof webhookEndpointView>[0]>).map((endpoint) => webhookEndpointView(endpoint, false))
    return list
  })
  app.get('/v1/webhook_endpoints/:id', async (request: IdRequest) => {
    retrieveParams(query(request))
    return webhookEndpointView(liveEndpoint(accountOf(request), request.params.id), false)
  })
  app.post('/v1/webhook_endpoints/:id', async (request: IdRequest) => webhookEndpointView(updateWebhookEndpoint(accountOf(request), request.params.id, body(request)), false))
  app.delete('/v1/webhook_endpoints/:id', async (request: IdRequest) => deleteWebhookEndpoint(accountOf(request), request.params.id))
}
