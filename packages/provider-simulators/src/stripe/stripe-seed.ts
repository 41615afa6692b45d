// Deterministic history for an account: the same (seed, account id, count) always yields the same
// customers, products (each with a default price) and payments (PaymentIntent + charge + balance
// transaction, some refunded or declined). Seeded objects predate Stripe's 30-day event retention,
// so they come with no events, as an established account's old objects would.
import { createPrng, fakePerson, fakeProductName, seedFrom, type Prng } from '../common/prng.ts'
import { newId } from './stripe-ids.ts'
import { balanceTransactionObject, chargeObject, customerObject, paymentIntentObject, priceObject, productObject, stripeFee, type CustomerObject } from './stripe-objects.ts'
import { applyRefund } from './stripe-payments.ts'
import type { SimAccount, StripeState } from './stripe-state.ts'

export const SEED_ENTITIES = ['customer', 'product', 'payment'] as const
export type SeedEntity = (typeof SEED_ENTITIES)[number]

/** 2023-11-14: seeded history starts here, well in the past. */
const SEED_EPOCH = 1_700_000_000

/** Ascending creation times; about one in twenty shares its second with the previous record. */
function createdTimes(rng: Prng, count: number): number[] {
  const times: number[] = []
  let at = SEED_EPOCH
  for (let i = 0; i < count; i++) {
    at += rng.next() < 0.05 ? 0 : rng.int(1, 1200)
    times.push(at)
  }
  return times
}

const CITIES = [
  ['London', 'GB', 'EC1A 1BB'],
  ['Manchester', 'GB', 'M1 1AE'],
  ['New York', 'US', '10001'],
  ['Chicago', 'US', '60601'],
  ['Dublin', 'IE', 'D02 X285'],
] as const

function seedCustomers(account: SimAccount, rng: Prng, count: number): void {
  account.customers.clear()
  const times = createdTimes(rng, count)
  for (let i = 0; i < count; i++) {
    const person = fakePerson(rng, i)
    const city = rng.pick(CITIES)
    const business = rng.next() < 0.1 ? `${person.familyName} ${rng.pick(['Events', 'Productions', 'Theatre Company', 'Tours'])} Ltd` : null
    const customer = customerObject({
      id: newId(rng, 'cus'),
      created: times[i] as number,
      email: person.email,
      name: `${person.givenName} ${person.familyName}`,
      phone: rng.next() < 0.7 ? person.phone : null,
      description: rng.next() < 0.1 ? 'Season ticket holder' : null,
      address: rng.next() < 0.5 ? { city: city[0], country: city[1], line1: `${rng.int(1, 200)} High Street`, line2: null, postal_code: city[2], state: null } : null,
      metadata: rng.next() < 0.3 ? { member_tier: rng.pick(['bronze', 'silver', 'gold']) } : {},
      invoicePrefix: rng.alnum(8).toUpperCase(),
    })
    if (business) customer.business_name = business
    account.customers.insert(customer)
  }
}

function seedProducts(account: SimAccount, rng: Prng, count: number): void {
  account.products.clear()
  account.prices.clear()
  const times = createdTimes(rng, count)
  for (let i = 0; i < count; i++) {
    const created = times[i] as number
    const productId = newId(rng, 'prod')
    const hasPrice = rng.next() < 0.95
    const price = hasPrice ? priceObject({ id: newId(rng, 'price'), created, product: productId, currency: rng.next() < 0.9 ? 'usd' : 'eur', unitAmount: rng.int(5, 300) * 100 + rng.pick([0, 0, 50, 95]) }) : null
    const name = fakeProductName(rng, i)
    account.products.insert(
      productObject({
        id: productId,
        created,
        name,
        description: rng.next() < 0.6 ? `${name.replace(/ #\d+$/, '')} for the ${rng.pick(['spring', 'summer', 'autumn', 'winter'])} season` : null,
        active: rng.next() < 0.9,
        defaultPrice: price?.id ?? null,
      }),
    )
    if (price) account.prices.insert(price)
  }
}

function seedPayments(account: SimAccount, rng: Prng, count: number): void {
  account.paymentIntents.clear()
  account.charges.clear()
  account.refunds.clear()
  account.balanceTransactions.clear()
  const customers: readonly CustomerObject[] = account.customers.all()
  const times = createdTimes(rng, count)
  for (let i = 0; i < count; i++) {
    const created = times[i] as number
    const customer = customers.length > 0 && rng.next() < 0.8 ? rng.pick(customers) : null
    const amount = rng.int(5, 400) * 100 + rng.pick([0, 0, 50, 95])
    const currency = rng.next() < 0.9 ? 'usd' : rng.pick(['eur', 'gbp'])
    const roll = rng.next()
    const succeeded = roll >= 0.03
    const intentId = newId(rng, 'pi')
    const chargeId = newId(rng, 'ch')
    const txnId = succeeded ? newId(rng, 'txn') : null
    const paymentMethod = newId(rng, 'pm')
    const description = `Tickets order #${10_000 + i}`
    const intent = paymentIntentObject({
      id: intentId,
      created,
      amount,
      currency,
      customer: customer?.id ?? null,
      description,
      paymentMethod,
      status: succeeded ? 'succeeded' : 'requires_payment_method',
      clientSecretTail: rng.alnum(25),
    })
    intent.latest_charge = chargeId
    intent.amount_received = succeeded ? amount : 0
    account.paymentIntents.insert(intent)
    const charge = chargeObject({
      id: chargeId,
      created,
      amount,
      currency,
      customer: customer?.id ?? null,
      description,
      paymentIntent: intentId,
      paymentMethod,
      balanceTransaction: txnId,
      status: succeeded ? 'succeeded' : 'failed',
      card: { brand: rng.pick(['visa', 'visa', 'mastercard', 'amex']), last4: String(rng.int(0, 9999)).padStart(4, '0'), expMonth: rng.int(1, 12), expYear: rng.int(2026, 2032) },
      billingEmail: customer?.email ?? null,
      billingName: customer?.name ?? null,
      riskScore: rng.int(0, 60),
    })
    account.charges.insert(charge)
    if (txnId) {
      account.balanceTransactions.insert(balanceTransactionObject({ id: txnId, created, amount, currency, fee: stripeFee(amount), source: chargeId, type: 'charge', description }))
    }
    if (succeeded && roll > 0.88) {
      const refundAmount = roll > 0.96 ? Math.floor(amount / 2) : amount
      applyRefund(account, charge, refundAmount, 'requested_by_customer', created + rng.int(3600, 5 * 86_400))
    }
  }
}

export function seedEntity(state: StripeState, account: SimAccount, entity: SeedEntity, count: number): void {
  const rng = createPrng(seedFrom(state.seed, account.id, entity))
  if (entity === 'customer') seedCustomers(account, rng, count)
  else if (entity === 'product') seedProducts(account, rng, count)
  else seedPayments(account, rng, count)
}

export function seedAccount(state: StripeState, account: SimAccount): void {
  for (const entity of SEED_ENTITIES) seedEntity(state, account, entity, state.recordsPerEntity)
}
