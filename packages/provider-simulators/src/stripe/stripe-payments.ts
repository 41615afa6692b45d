// PaymentIntents, the charges they create, refunds and the balance transactions behind them.
// Confirmation runs synchronously with Stripe's test payment methods: `pm_card_visa` and friends
// succeed, `pm_card_chargeDeclined` / `pm_card_visa_chargeDeclined` are declined.
import { liveCustomer } from './stripe-catalog.ts'
import { previousAttributes } from './stripe-diff.ts'
import { StripeApiError, invalidRequest, missingParam, noSuch } from './stripe-errors.ts'
import { newId } from './stripe-ids.ts'
import { balanceTransactionObject, chargeObject, paymentIntentObject, refundObject, stripeFee, type CardDetails, type ChargeObject, type PaymentIntentObject, type RefundObject } from './stripe-objects.ts'
import { applyMetadata, checkKnown, optBool, optCurrency, optInt, optNullableString, optString, type Params } from './stripe-params.ts'
import { nowSeconds, type RequestOrigin, type SimAccount, type StripeState } from './stripe-state.ts'

type Origin = RequestOrigin | null

const DECLINING = new Set(['pm_card_chargeDeclined', 'pm_card_visa_chargeDeclined'])

const CARDS: Record<string, CardDetails> = {
  pm_card_visa: { brand: 'visa', last4: '4242', expMonth: 12, expYear: 2034 },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', expMonth: 12, expYear: 2034 },
  pm_card_amex: { brand: 'amex', last4: '8431', expMonth: 12, expYear: 2034 },
}

function cardFor(paymentMethod: string): CardDetails {
  return CARDS[paymentMethod] ?? { brand: 'visa', last4: DECLINING.has(paymentMethod) ? '0002' : '4242', expMonth: 12, expYear: 2034 }
}

/** Stripe's minimum charge is 50 units of the major currencies (e.g. $0.50). */
function checkAmount(amount: number, currency: string): void {
  if (amount < 1) throw invalidRequest('This value must be greater than or equal to 1.', { param: 'amount' })
  if (['usd', 'eur', 'gbp', 'cad', 'aud', 'chf'].includes(currency) && amount < 50) {
    throw invalidRequest(`Amount must be at least 50 cents`, { param: 'amount', code: 'amount_too_small' })
  }
  if (amount > 99_999_999) throw invalidRequest('Amount must be no more than $999,999.99', { param: 'amount', code: 'amount_too_large' })
}

const PI_CREATE_PARAMS = [
  'amount',
  'currency',
  'automatic_payment_methods',
  'capture_method',
  'confirm',
  'confirmation_method',
  'customer',
  'description',
  'error_on_requires_action',
  'expand',
  'metadata',
  'off_session',
  'on_behalf_of',
  'payment_method',
  'payment_method_options',
  'payment_method_types',
  'receipt_email',
  'return_url',
  'setup_future_usage',
  'shipping',
  'statement_descriptor',
  'statement_descriptor_suffix',
  'transfer_data',
  'transfer_group',
  'use_stripe_sdk',
]

export function livePaymentIntent(account: SimAccount, id: string, param = 'id'): PaymentIntentObject {
  const intent = account.paymentIntents.get(id)
  if (!intent) throw noSuch('payment_intent', id, param)
  return intent
}

export function createPaymentIntent(state: StripeState, account: SimAccount, params: Params, origin: Origin, created = nowSeconds()): PaymentIntentObject {
  checkKnown(params, PI_CREATE_PARAMS)
  const amount = optInt(params, 'amount')
  if (amount === undefined) throw missingParam('amount')
  const currency = optCurrency(params, 'currency')
  if (!currency) throw missingParam('currency')
  checkAmount(amount, currency)
  const customerId = optNullableString(params, 'customer') ?? null
  if (customerId) liveCustomer(account, customerId, 'customer')
  const paymentMethod = optNullableString(params, 'payment_method') ?? null
  const intent = paymentIntentObject({
    id: newId(account.rng, 'pi'),
    created,
    amount,
    currency,
    customer: customerId,
    description: optNullableString(params, 'description') ?? null,
    paymentMethod,
    status: paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
    clientSecretTail: account.rng.alnum(25),
    metadata: applyMetadata({}, params.metadata),
  })
  account.paymentIntents.insert(intent)
  state.emit(account, 'payment_intent.created', intent, { origin })
  if (optBool(params, 'confirm')) return confirmPaymentIntent(state, account, intent.id, {}, origin)
  return intent
}

export function confirmPaymentIntent(state: StripeState, account: SimAccount, id: string, params: Params, origin: Origin): PaymentIntentObject {
  checkKnown(params, ['expand', 'payment_method', 'return_url', 'off_session', 'error_on_requires_action', 'mandate_data', 'payment_method_options', 'receipt_email', 'setup_future_usage', 'shipping', 'use_stripe_sdk'])
  const before = livePaymentIntent(account, id)
  if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(before.status)) {
    throw invalidRequest(`You cannot confirm this PaymentIntent because it has a status of ${before.status}.`, { code: 'payment_intent_unexpected_state' })
  }
  const paymentMethod = optString(params, 'payment_method') ?? before.payment_method
  if (!paymentMethod) {
    throw invalidRequest("You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with cus_xxx, specify a payment method attached to this customer along with the customer ID.", {
      code: 'payment_intent_unexpected_state',
    })
  }
  const now = nowSeconds()
  const succeeded = !DECLINING.has(paymentMethod)
  const chargeId = newId(account.rng, 'ch')
  const txnId = succeeded ? newId(account.rng, 'txn') : null
  const customer = before.customer ? account.customers.get(before.customer) : undefined
  const charge = chargeObject({
    id: chargeId,
    created: now,
    amount: before.amount,
    currency: before.currency,
    customer: before.customer,
    description: before.description,
    paymentIntent: before.id,
    paymentMethod: paymentMethod.startsWith('pm_card_') ? newId(account.rng, 'pm') : paymentMethod,
    balanceTransaction: txnId,
    status: succeeded ? 'succeeded' : 'failed',
    card: cardFor(paymentMethod),
    billingEmail: customer?.email ?? null,
    billingName: customer?.name ?? null,
    riskScore: account.rng.int(0, 60),
    metadata: before.metadata,
  })
  account.charges.insert(charge)
  if (txnId) {
    account.balanceTransactions.insert(
      balanceTransactionObject({ id: txnId, created: now, amount: charge.amount, currency: charge.currency, fee: stripeFee(charge.amount), source: chargeId, type: 'charge', description: charge.description }),
    )
  }
  const after: PaymentIntentObject = {
    ...structuredClone(before),
    payment_method: charge.payment_method as string,
    latest_charge: chargeId,
    status: succeeded ? 'succeeded' : 'requires_payment_method',
    amount_received: succeeded ? before.amount : 0,
    last_payment_error: succeeded ? null : { charge: chargeId, code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.', type: 'card_error', doc_url: 'https://stripe.com/docs/error-codes/card-declined' },
  }
  account.paymentIntents.replace(after)
  state.emit(account, succeeded ? 'charge.succeeded' : 'charge.failed', charge, { origin })
  state.emit(account, succeeded ? 'payment_intent.succeeded' : 'payment_intent.payment_failed', after, { origin })
  if (!succeeded) {
    throw new StripeApiError(402, {
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'generic_decline',
      message: 'Your card was declined.',
      charge: chargeId,
      payment_intent: after,
    })
  }
  return after
}

export function updatePaymentIntent(account: SimAccount, id: string, params: Params): PaymentIntentObject {
  checkKnown(params, ['amount', 'currency', 'customer', 'description', 'expand', 'metadata', 'payment_method', 'receipt_email', 'setup_future_usage', 'shipping', 'statement_descriptor', 'statement_descriptor_suffix', 'transfer_group'])
  const before = livePaymentIntent(account, id)
  const after = structuredClone(before)
  const amount = optInt(params, 'amount')
  if (amount !== undefined) {
    if (before.status === 'succeeded' || before.status === 'canceled') {
      throw invalidRequest(
        `This PaymentIntent's amount could not be updated because it has a status of ${before.status}. You may only update the amount of a PaymentIntent with one of the following statuses: requires_payment_method, requires_confirmation, requires_action.`,
        { code: 'payment_intent_unexpected_state' },
      )
    }
    checkAmount(amount, before.currency)
    after.amount = amount
  }
  const customer = optNullableString(params, 'customer')
  if (customer) liveCustomer(account, customer, 'customer')
  if (customer !== undefined) after.customer = customer
  const description = optNullableString(params, 'description')
  if (description !== undefined) after.description = description
  after.metadata = applyMetadata(before.metadata, params.metadata)
  account.paymentIntents.replace(after)
  // Stripe has no `payment_intent.updated` event: plain updates are invisible to /v1/events.
  return after
}

export function cancelPaymentIntent(state: StripeState, account: SimAccount, id: string, params: Params, origin: Origin): PaymentIntentObject {
  checkKnown(params, ['cancellation_reason', 'expand'])
  const before = livePaymentIntent(account, id)
  if (!['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'].includes(before.status)) {
    throw invalidRequest(
      `You cannot cancel this PaymentIntent because it has a status of ${before.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`,
      { code: 'payment_intent_unexpected_state' },
    )
  }
  const after: PaymentIntentObject = { ...structuredClone(before), status: 'canceled', canceled_at: nowSeconds(), cancellation_reason: optString(params, 'cancellation_reason') ?? null }
  account.paymentIntents.replace(after)
  state.emit(account, 'payment_intent.canceled', after, { origin })
  return after
}

export function liveCharge(account: SimAccount, id: string, param = 'id'): ChargeObject {
  const charge = account.charges.get(id)
  if (!charge) throw noSuch('charge', id, param)
  return charge
}

export function updateCharge(state: StripeState, account: SimAccount, id: string, params: Params, origin: Origin): ChargeObject {
  checkKnown(params, ['customer', 'description', 'expand', 'fraud_details', 'metadata', 'receipt_email', 'shipping', 'transfer_group'])
  const before = liveCharge(account, id)
  const after = structuredClone(before)
  const description = optNullableString(params, 'description')
  if (description !== undefined) after.description = description
  const receiptEmail = optNullableString(params, 'receipt_email')
  if (receiptEmail !== undefined) after.receipt_email = receiptEmail
  const customer = optNullableString(params, 'customer')
  if (customer) {
    if (before.customer) throw invalidRequest('This charge already has a customer.', { param: 'customer' })
    liveCustomer(account, customer, 'customer')
    after.customer = customer
  }
  after.metadata = applyMetadata(before.metadata, params.metadata)
  const previous = previousAttributes(before, after)
  if (!previous) return before
  account.charges.replace(after)
  state.emit(account, 'charge.updated', after, { previous, origin })
  return after
}

export function createRefund(state: StripeState, account: SimAccount, params: Params, origin: Origin): RefundObject {
  checkKnown(params, ['amount', 'charge', 'currency', 'customer', 'expand', 'instructions_email', 'metadata', 'origin', 'payment_intent', 'reason', 'refund_application_fee', 'reverse_transfer'])
  const chargeParam = optString(params, 'charge')
  const intentParam = optString(params, 'payment_intent')
  if (!chargeParam && !intentParam) throw invalidRequest('One of the following params should be provided for this request: payment_intent or charge.', { code: 'parameter_missing' })
  let charge: ChargeObject
  if (chargeParam) charge = liveCharge(account, chargeParam, 'charge')
  else {
    const intent = livePaymentIntent(account, intentParam as string, 'payment_intent')
    if (!intent.latest_charge || intent.status !== 'succeeded') {
      throw invalidRequest(`This PaymentIntent (${intent.id}) does not have a successful charge to refund.`, { code: 'charge_not_refundable', param: 'payment_intent' })
    }
    charge = liveCharge(account, intent.latest_charge, 'payment_intent')
  }
  if (charge.status !== 'succeeded') throw invalidRequest(`Charge ${charge.id} has a status of ${charge.status} and cannot be refunded.`, { code: 'charge_not_refundable' })
  if (charge.refunded) throw invalidRequest(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' })
  const remaining = charge.amount - charge.amount_refunded
  const amount = optInt(params, 'amount') ?? remaining
  if (amount < 1) throw invalidRequest('This value must be greater than or equal to 1.', { param: 'amount' })
  if (amount > remaining) {
    throw invalidRequest(`Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`, { param: 'amount', code: 'amount_too_large' })
  }
  const reason = optString(params, 'reason') ?? null
  if (reason !== null && !['duplicate', 'fraudulent', 'requested_by_customer'].includes(reason)) {
    throw invalidRequest(`Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer`, { param: 'reason' })
  }
  const now = nowSeconds()
  const refund = applyRefund(account, charge, amount, reason, now, applyMetadata({}, params.metadata))
  const after = account.charges.get(charge.id) as ChargeObject
  state.emit(account, 'charge.refunded', after, { previous: previousAttributes(charge, after) ?? undefined, origin })
  state.emit(account, 'refund.created', refund, { origin })
  return refund
}

/** Records a refund (object, balance transaction, charge totals) without emitting events. */
export function applyRefund(account: SimAccount, charge: ChargeObject, amount: number, reason: string | null, created: number, metadata: Record<string, string> = {}): RefundObject {
  const txnId = newId(account.rng, 'txn')
  const refund = refundObject({ id: newId(account.rng, 're'), created, amount, charge: charge.id, currency: charge.currency, paymentIntent: charge.payment_intent, balanceTransaction: txnId, reason, metadata })
  account.refunds.insert(refund)
  account.balanceTransactions.insert(balanceTransactionObject({ id: txnId, created, amount: -amount, currency: charge.currency, fee: 0, source: refund.id, type: 'refund', description: 'REFUND FOR CHARGE' }))
  const after = structuredClone(charge)
  after.amount_refunded = charge.amount_refunded + amount
  after.refunded = after.amount_refunded >= charge.amount
  account.charges.replace(after)
  return refund
}
