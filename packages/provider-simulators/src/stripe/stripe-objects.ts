// Object shapes as the Stripe API returns them (the fields an integration reads, with the same
// names, nesting and null conventions).
import type { StripeObject } from './stripe-collection.ts'

export type Metadata = Record<string, string>

export interface Address {
  city: string | null
  country: string | null
  line1: string | null
  line2: string | null
  postal_code: string | null
  state: string | null
}

export interface CustomerObject extends StripeObject {
  object: 'customer'
  email: string | null
  name: string | null
  phone: string | null
  description: string | null
  address: Address | null
  metadata: Metadata
  /** Present only once set (newer API versions). */
  business_name?: string
  individual_name?: string
}

export interface ProductObject extends StripeObject {
  object: 'product'
  active: boolean
  name: string
  description: string | null
  default_price: string | null
  metadata: Metadata
  updated: number
}

export interface PriceObject extends StripeObject {
  object: 'price'
  active: boolean
  currency: string
  product: string
  unit_amount: number | null
  nickname: string | null
  metadata: Metadata
}

export interface PaymentIntentObject extends StripeObject {
  object: 'payment_intent'
  amount: number
  amount_received: number
  currency: string
  customer: string | null
  description: string | null
  latest_charge: string | null
  payment_method: string | null
  status: string
  metadata: Metadata
}

export interface ChargeObject extends StripeObject {
  object: 'charge'
  amount: number
  amount_captured: number
  amount_refunded: number
  currency: string
  customer: string | null
  description: string | null
  payment_intent: string | null
  balance_transaction: string | null
  paid: boolean
  refunded: boolean
  status: 'succeeded' | 'pending' | 'failed'
  metadata: Metadata
}

export interface RefundObject extends StripeObject {
  object: 'refund'
  amount: number
  charge: string
  currency: string
  payment_intent: string | null
  balance_transaction: string | null
}

export interface BalanceTransactionObject extends StripeObject {
  object: 'balance_transaction'
  amount: number
  currency: string
  fee: number
  net: number
  source: string
  type: string
}

export interface EventObject extends StripeObject {
  object: 'event'
  type: string
  api_version: string
  data: { object: StripeObject; previous_attributes?: Record<string, unknown> }
  livemode: false
  pending_webhooks: number
  request: { id: string | null; idempotency_key: string | null }
  account?: string
}

export interface WebhookEndpointObject extends StripeObject {
  object: 'webhook_endpoint'
  url: string
  enabled_events: string[]
  status: 'enabled' | 'disabled'
  api_version: string | null
  description: string | null
  metadata: Metadata
  /** Kept server-side; only the create response shows it. */
  secret: string
  connect: boolean
}

export const NULL_ADDRESS: Address = { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }

export function customerObject(fields: {
  id: string
  created: number
  email: string | null
  name: string | null
  phone: string | null
  description?: string | null
  address?: Address | null
  metadata?: Metadata
  invoicePrefix: string
}): CustomerObject {
  return {
    id: fields.id,
    object: 'customer',
    address: fields.address ?? null,
    balance: 0,
    created: fields.created,
    currency: null,
    default_source: null,
    delinquent: false,
    description: fields.description ?? null,
    discount: null,
    email: fields.email,
    invoice_prefix: fields.invoicePrefix,
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: fields.metadata ?? {},
    name: fields.name,
    next_invoice_sequence: 1,
    phone: fields.phone,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  }
}

export function productObject(fields: { id: string; created: number; name: string; description?: string | null; active?: boolean; defaultPrice: string | null; metadata?: Metadata }): ProductObject {
  return {
    id: fields.id,
    object: 'product',
    active: fields.active ?? true,
    attributes: [],
    created: fields.created,
    default_price: fields.defaultPrice,
    description: fields.description ?? null,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: fields.metadata ?? {},
    name: fields.name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    type: 'service',
    unit_label: null,
    updated: fields.created,
    url: null,
  }
}

export function priceObject(fields: { id: string; created: number; product: string; currency: string; unitAmount: number | null; active?: boolean; nickname?: string | null; metadata?: Metadata }): PriceObject {
  return {
    id: fields.id,
    object: 'price',
    active: fields.active ?? true,
    billing_scheme: 'per_unit',
    created: fields.created,
    currency: fields.currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: null,
    metadata: fields.metadata ?? {},
    nickname: fields.nickname ?? null,
    product: fields.product,
    recurring: null,
    tax_behavior: 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: 'one_time',
    unit_amount: fields.unitAmount,
    unit_amount_decimal: fields.unitAmount === null ? null : String(fields.unitAmount),
  }
}

export function paymentIntentObject(fields: {
  id: string
  created: number
  amount: number
  currency: string
  customer: string | null
  description?: string | null
  paymentMethod: string | null
  status: string
  clientSecretTail: string
  metadata?: Metadata
}): PaymentIntentObject {
  return {
    id: fields.id,
    object: 'payment_intent',
    amount: fields.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic',
    client_secret: `${fields.id}_secret_${fields.clientSecretTail}`,
    confirmation_method: 'automatic',
    created: fields.created,
    currency: fields.currency,
    customer: fields.customer,
    description: fields.description ?? null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    metadata: fields.metadata ?? {},
    next_action: null,
    on_behalf_of: null,
    payment_method: fields.paymentMethod,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    payment_method_types: ['card'],
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: null,
    shipping: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: fields.status,
    transfer_data: null,
    transfer_group: null,
  }
}

export interface CardDetails {
  brand: string
  last4: string
  expMonth: number
  expYear: number
}

export function chargeObject(fields: {
  id: string
  created: number
  amount: number
  currency: string
  customer: string | null
  description?: string | null
  paymentIntent: string | null
  paymentMethod: string
  balanceTransaction: string | null
  status: 'succeeded' | 'failed'
  card: CardDetails
  billingEmail: string | null
  billingName: string | null
  riskScore: number
  metadata?: Metadata
}): ChargeObject {
  const succeeded = fields.status === 'succeeded'
  return {
    id: fields.id,
    object: 'charge',
    amount: fields.amount,
    amount_captured: succeeded ? fields.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: fields.balanceTransaction,
    billing_details: { address: { ...NULL_ADDRESS }, email: fields.billingEmail, name: fields.billingName, phone: null, tax_id: null },
    calculated_statement_descriptor: 'VENUE HUB',
    captured: succeeded,
    created: fields.created,
    currency: fields.currency,
    customer: fields.customer,
    description: fields.description ?? null,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: succeeded ? null : 'card_declined',
    failure_message: succeeded ? null : 'Your card was declined.',
    fraud_details: {},
    livemode: false,
    metadata: fields.metadata ?? {},
    on_behalf_of: null,
    outcome: succeeded
      ? {
          advice_code: null,
          network_advice_code: null,
          network_decline_code: null,
          network_status: 'approved_by_network',
          reason: null,
          risk_level: 'normal',
          risk_score: fields.riskScore,
          seller_message: 'Payment complete.',
          type: 'authorized',
        }
      : {
          advice_code: 'try_again_later',
          network_advice_code: null,
          network_decline_code: null,
          network_status: 'declined_by_network',
          reason: 'generic_decline',
          risk_level: 'normal',
          risk_score: fields.riskScore,
          seller_message: 'The bank did not return any further details with this decline.',
          type: 'issuer_declined',
        },
    paid: succeeded,
    payment_intent: fields.paymentIntent,
    payment_method: fields.paymentMethod,
    payment_method_details: {
      card: {
        brand: fields.card.brand,
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
        country: 'US',
        exp_month: fields.card.expMonth,
        exp_year: fields.card.expYear,
        fingerprint: null,
        funding: 'credit',
        last4: fields.card.last4,
        network: fields.card.brand,
        three_d_secure: null,
        wallet: null,
      },
      type: 'card',
    },
    receipt_email: null,
    receipt_number: null,
    receipt_url: `https://pay.stripe.com/receipts/payment/${fields.id}`,
    refunded: false,
    review: null,
    shipping: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: fields.status,
    transfer_data: null,
    transfer_group: null,
  }
}

/** Stripe's US card pricing: 2.9% + 30 cents. */
export function stripeFee(amount: number): number {
  return Math.round(amount * 0.029) + 30
}

export function balanceTransactionObject(fields: { id: string; created: number; amount: number; currency: string; fee: number; source: string; type: 'charge' | 'refund'; description: string | null }): BalanceTransactionObject {
  const availableOn = fields.created + 2 * 86_400
  return {
    id: fields.id,
    object: 'balance_transaction',
    amount: fields.amount,
    available_on: availableOn,
    created: fields.created,
    currency: fields.currency,
    description: fields.description,
    exchange_rate: null,
    fee: fields.fee,
    fee_details: fields.fee === 0 ? [] : [{ amount: fields.fee, application: null, currency: fields.currency, description: 'Stripe processing fees', type: 'stripe_fee' }],
    net: fields.amount - fields.fee,
    reporting_category: fields.type,
    source: fields.source,
    status: availableOn <= Math.floor(Date.now() / 1000) ? 'available' : 'pending',
    type: fields.type,
  }
}

export function refundObject(fields: { id: string; created: number; amount: number; charge: string; currency: string; paymentIntent: string | null; balanceTransaction: string; reason: string | null; metadata?: Metadata }): RefundObject {
  return {
    id: fields.id,
    object: 'refund',
    amount: fields.amount,
    balance_transaction: fields.balanceTransaction,
    charge: fields.charge,
    created: fields.created,
    currency: fields.currency,
    destination_details: { card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' }, type: 'card' },
    metadata: fields.metadata ?? {},
    payment_intent: fields.paymentIntent,
    reason: fields.reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  }
}

/** Payment methods are not stored; test ones are synthesised from their id when expanded. */
export function paymentMethodObject(id: string, created: number): StripeObject {
  return {
    id,
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: { address: { ...NULL_ADDRESS }, email: null, name: null, phone: null, tax_id: null },
    card: {
      brand: 'visa',
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
      country: 'US',
      exp_month: 12,
      exp_year: 2034,
      funding: 'credit',
      last4: '4242',
      networks: { available: ['visa'], preferred: null },
    },
    created,
    customer: null,
    livemode: false,
    metadata: {},
    type: 'card',
  }
}

export function webhookEndpointView(endpoint: WebhookEndpointObject, includeSecret: boolean): Record<string, unknown> {
  const { secret, connect: _connect, ...rest } = endpoint
  return includeSecret ? { ...rest, application: null, livemode: false, secret } : { ...rest, application: null, livemode: false }
}
