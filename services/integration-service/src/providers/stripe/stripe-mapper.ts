// Stripe objects to canonical records. Amounts are already integer minor units on Stripe;
// currencies come lower case and go upper case.
import type Stripe from 'stripe'
import type { CanonicalRecord } from '../canonical.ts'

function iso(seconds: number | null | undefined): string | null {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : null
}

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null
  return typeof value === 'string' ? value : value.id
}

/** Stripe keeps one `name`; the first word is taken as the given name. */
function splitName(name: string | null | undefined): { givenName: string | null; familyName: string | null } {
  const trimmed = name?.trim()
  if (!trimmed) return { givenName: null, familyName: null }
  const space = trimmed.indexOf(' ')
  return space === -1 ? { givenName: trimmed, familyName: null } : { givenName: trimmed.slice(0, space), familyName: trimmed.slice(space + 1).trim() || null }
}

export function mapCustomer(customer: Stripe.Customer, updatedAt: string | null = null): CanonicalRecord<'customer'> {
  return {
    entity: 'customer',
    externalId: customer.id,
    data: {
      email: customer.email ?? null,
      ...splitName(customer.individual_name || customer.name),
      phone: customer.phone ?? null,
      companyName: customer.business_name || null,
      createdAt: iso(customer.created),
    },
    raw: customer,
    updatedAt,
  }
}

/** Expects `default_price` expanded; an unexpanded one leaves the amount unknown. */
export function mapProduct(product: Stripe.Product): CanonicalRecord<'product'> {
  const price = product.default_price && typeof product.default_price === 'object' ? product.default_price : null
  return {
    entity: 'product',
    externalId: product.id,
    data: {
      name: product.name,
      description: product.description ?? null,
      active: product.active,
      unitAmount: price?.unit_amount ?? null,
      currency: price ? price.currency.toUpperCase() : null,
    },
    raw: product,
    updatedAt: iso(product.updated),
  }
}

function chargeStatus(charge: Stripe.Charge): string {
  if (charge.refunded) return 'refunded'
  if (charge.amount_refunded > 0) return 'partially_refunded'
  return charge.status
}

/** Payments are charges: the money that moved (PaymentIntents without one are only intents). */
export function mapCharge(charge: Stripe.Charge, updatedAt: string | null = null): CanonicalRecord<'payment'> {
  return {
    entity: 'payment',
    externalId: charge.id,
    data: {
      amount: charge.amount,
      currency: charge.currency.toUpperCase(),
      status: chargeStatus(charge),
      customerExternalId: idOf(charge.customer as string | { id: string } | null),
      createdAt: iso(charge.created),
    },
    raw: charge,
    updatedAt,
  }
}

export function isoFromSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString()
}
