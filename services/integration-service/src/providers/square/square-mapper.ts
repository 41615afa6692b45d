// Square SDK objects → canonical records. The SDK hands back camelCase objects with bigint money
// and versions; `raw` is turned back into Square's wire shape (snake_case, numbers) with the
// SDK's own serializers, so it is the record as Square sent it and survives JSON storage.
import { serialization } from 'square'
import type { Square } from 'square'
import type { CanonicalRecord } from '../canonical.ts'

interface WireSchema {
  jsonOrThrow(value: unknown, options: { unrecognizedObjectKeys: 'passthrough'; omitUndefined: boolean }): unknown
}

/** bigint → number throughout: Square amounts and versions are far below 2^53. */
export function plainJson(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value)
  if (Array.isArray(value)) return value.map(plainJson)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, inner]) => [key, plainJson(inner)]))
  }
  return value
}

function toWire(schema: WireSchema, value: unknown): unknown {
  try {
    return plainJson(schema.jsonOrThrow(value, { unrecognizedObjectKeys: 'passthrough', omitUndefined: true }))
  } catch {
    return plainJson(value)
  }
}

const amountOf = (money: Square.Money | undefined): number | null => (money?.amount === undefined || money.amount === null ? null : Number(money.amount))
const currencyOf = (money: Square.Money | undefined): string | null => (money?.currency ? String(money.currency).toUpperCase() : null)

export function mapCustomer(customer: Square.Customer): CanonicalRecord<'customer'> {
  return {
    entity: 'customer',
    externalId: customer.id ?? '',
    data: {
      email: customer.emailAddress ?? null,
      givenName: customer.givenName ?? null,
      familyName: customer.familyName ?? null,
      phone: customer.phoneNumber ?? null,
      companyName: customer.companyName ?? null,
      createdAt: customer.createdAt ?? null,
    },
    raw: toWire(serialization.Customer, customer),
    updatedAt: customer.updatedAt ?? null,
  }
}

export function mapPayment(payment: Square.Payment): CanonicalRecord<'payment'> {
  // total_money is what the buyer paid (amount + tip); amount_money excludes the tip.
  const money = payment.totalMoney ?? payment.amountMoney
  return {
    entity: 'payment',
    externalId: payment.id ?? '',
    data: {
      amount: amountOf(money) ?? 0,
      currency: currencyOf(money) ?? '',
      status: (payment.status ?? 'unknown').toLowerCase(),
      customerExternalId: payment.customerId ?? null,
      createdAt: payment.createdAt ?? null,
    },
    raw: toWire(serialization.Payment, payment),
    updatedAt: payment.updatedAt ?? null,
  }
}

type CatalogItemObject = Extract<Square.CatalogObject, { type: 'ITEM' }>

export function isCatalogItem(object: Square.CatalogObject): object is CatalogItemObject {
  return object.type === 'ITEM'
}

/** The item's price when all its variations share one fixed price; null otherwise. */
function singlePrice(item: CatalogItemObject): { amount: number; currency: string } | null {
  const prices = (item.itemData?.variations ?? []).map((variation) => {
    const data = variation.type === 'ITEM_VARIATION' ? variation.itemVariationData : undefined
    const amount = data?.pricingType === 'FIXED_PRICING' || data?.pricingType === undefined ? amountOf(data?.priceMoney) : null
    return amount === null ? null : { amount, currency: currencyOf(data?.priceMoney) ?? '' }
  })
  const first = prices[0]
  if (!first || prices.some((price) => price === null || price.amount !== first.amount || price.currency !== first.currency)) return null
  return first
}

export function mapProduct(item: CatalogItemObject): CanonicalRecord<'product'> {
  const data = item.itemData
  const price = singlePrice(item)
  return {
    entity: 'product',
    externalId: item.id,
    data: {
      name: data?.name ?? '',
      description: data?.descriptionPlaintext ?? data?.description ?? null,
      active: !item.isDeleted && !data?.isArchived,
      unitAmount: price?.amount ?? null,
      currency: price?.currency ?? null,
    },
    raw: toWire(serialization.CatalogObject, item),
    updatedAt: item.updatedAt ?? null,
  }
}
