// Deterministic fake Square data. Every builder takes the PRNG explicitly, so an account seeded
// from (seed, merchant id) always holds the same records; timestamps are relative to the moment
// the data is generated, which keeps "recent" and "older than a year" meaningful on every run.
import { createHash } from 'node:crypto'
import type { Prng } from '../common/prng.ts'
import { fakePerson, fakeProductName } from '../common/prng.ts'
import { squareIds } from './square-ids.ts'
import type { SquareCatalogObject, SquareCustomer, SquareItemVariation, SquareLocation, SquareMerchant, SquarePayment } from './square-types.ts'

const DAY = 86_400_000
const COUNTRIES = [
  { country: 'US', currency: 'USD', language: 'en-US', timezone: 'America/New_York' },
  { country: 'US', currency: 'USD', language: 'en-US', timezone: 'America/Los_Angeles' },
  { country: 'GB', currency: 'GBP', language: 'en-GB', timezone: 'Europe/London' },
  { country: 'CA', currency: 'CAD', language: 'en-CA', timezone: 'America/Toronto' },
  { country: 'AU', currency: 'AUD', language: 'en-AU', timezone: 'Australia/Sydney' },
] as const
const VENUE_PREFIX = ['Riverside', 'Grand', 'Old Town', 'Harbour', 'Royal', 'Electric', 'Lyric', 'Empire'] as const
const VENUE_KIND = ['Theatre', 'Music Hall', 'Playhouse', 'Arena', 'Opera House', 'Jazz Club', 'Comedy Cellar'] as const
const COMPANIES = ['Acme Events', 'Northwind Tours', 'Globex', 'Initech', 'Umbrella Arts', 'Stark Productions'] as const
const CATEGORY_NAMES = ['Tickets', 'Merchandise', 'Services'] as const
const CARD_BRANDS = ['VISA', 'MASTERCARD', 'AMERICAN_EXPRESS', 'DISCOVER'] as const

export const iso = (ms: number): string => new Date(ms).toISOString()

export interface MerchantProfile {
  merchant: SquareMerchant
  locations: SquareLocation[]
}

export function buildMerchant(rng: Prng, merchantId: string, now: number): MerchantProfile {
  const locale = rng.pick(COUNTRIES)
  const businessName = `${rng.pick(VENUE_PREFIX)} ${rng.pick(VENUE_KIND)}`
  const createdAt = iso(now - rng.int(800, 2_000) * DAY)
  const mainLocationId = squareIds.location(rng)
  const location = (id: string, name: string): SquareLocation => ({
    id,
    name,
    address: { address_line_1: `${rng.int(1, 999)} High Street`, locality: 'Springfield', postal_code: String(rng.int(10000, 99999)), country: locale.country },
    timezone: locale.timezone,
    capabilities: ['CREDIT_CARD_PROCESSING', 'AUTOMATIC_TRANSFERS'],
    status: 'ACTIVE',
    created_at: createdAt,
    merchant_id: merchantId,
    country: locale.country,
    language_code: locale.language,
    currency: locale.currency,
    business_name: businessName,
    type: 'PHYSICAL',
    business_email: `box-office@${businessName.toLowerCase().replace(/[^a-z]+/g, '-')}.example.com`,
    mcc: '7922',
  })
  return {
    merchant: {
      id: merchantId,
      business_name: businessName,
      country: locale.country,
      language_code: locale.language,
      currency: locale.currency,
      status: 'ACTIVE',
      main_location_id: mainLocationId,
      created_at: createdAt,
    },
    locations: [location(mainLocationId, `${businessName} Box Office`), location(squareIds.location(rng), `${businessName} Bar`)],
  }
}

/** A customer as Square stores it; `index` keeps e-mail addresses unique inside an account. */
export function buildCustomer(rng: Prng, index: number, createdMs: number, updatedMs: number): SquareCustomer {
  const person = fakePerson(rng, index)
  const customer: SquareCustomer = {
    id: squareIds.customer(rng),
    created_at: iso(createdMs),
    updated_at: iso(updatedMs),
    given_name: person.givenName,
    family_name: person.familyName,
    email_address: person.email,
    phone_number: person.phone,
    preferences: { email_unsubscribed: rng.next() < 0.1 },
    creation_source: rng.pick(['THIRD_PARTY', 'DIRECTORY', 'APPOINTMENTS', 'INVOICES'] as const),
    version: updatedMs === createdMs ? 0 : rng.int(1, 4),
  }
  if (rng.next() < 0.2) customer.company_name = rng.pick(COMPANIES)
  if (rng.next() < 0.3) customer.reference_id = `VH-${index}`
  return customer
}

export interface PaymentContext {
  currency: string
  /** Main location first: it takes most payments (ListPayments shows only it by default). */
  locationIds: readonly string[]
  customerIds: readonly string[]
}

export function buildPayment(rng: Prng, context: PaymentContext, createdMs: number, updatedMs: number): SquarePayment {
  const id = squareIds.payment(rng)
  const amount = rng.int(5, 250) * 100 + rng.pick([0, 0, 50, 95] as const)
  const tip = rng.next() < 0.15 ? rng.int(1, 20) * 50 : 0
  const status = rng.next() < 0.9 ? 'COMPLETED' : rng.pick(['FAILED', 'CANCELED', 'APPROVED'] as const)
  const money = (value: number) => ({ amount: value, currency: context.currency })
  const brand = rng.pick(CARD_BRANDS)
  const payment: SquarePayment = {
    id,
    created_at: iso(createdMs),
    updated_at: iso(updatedMs),
    amount_money: money(amount),
    ...(tip > 0 ? { tip_money: money(tip) } : {}),
    total_money: money(amount + tip),
    ...(status === 'COMPLETED' || status === 'APPROVED' ? { approved_money: money(amount + tip) } : {}),
    status,
    delay_duration: 'PT168H',
    source_type: 'CARD',
    card_details: {
      status: status === 'COMPLETED' ? 'CAPTURED' : status === 'APPROVED' ? 'AUTHORIZED' : status === 'FAILED' ? 'FAILED' : 'VOIDED',
      card: {
        card_brand: brand,
        last_4: String(rng.int(0, 9999)).padStart(4, '0'),
        exp_month: rng.int(1, 12),
        exp_year: new Date(createdMs).getUTCFullYear() + rng.int(1, 5),
        fingerprint: `sq-1-${createHash('sha256').update(id).digest('base64url').slice(0, 40)}`,
        card_type: rng.pick(['CREDIT', 'DEBIT'] as const),
        bin: String(rng.int(400000, 559999)),
      },
      entry_method: rng.pick(['KEYED', 'EMV', 'CONTACTLESS'] as const),
      cvv_status: 'CVV_ACCEPTED',
      avs_status: 'AVS_ACCEPTED',
      statement_description: 'SQ *VENUE HUB',
    },
    location_id: rng.next() < 0.8 || context.locationIds.length < 2 ? (context.locationIds[0] as string) : rng.pick(context.locationIds.slice(1)),
    order_id: squareIds.order(rng),
    receipt_number: id.slice(0, 4),
    receipt_url: `https://squareup.com/receipt/preview/${id}`,
    application_details: { square_product: 'ECOMMERCE_API', application_id: 'sq0idp-venuehub000000000000' },
    version_token: createHash('sha256').update(`${id}:${updatedMs}`).digest('base64url').slice(0, 43),
  }
  if (context.customerIds.length > 0 && rng.next() < 0.6) payment.customer_id = rng.pick(context.customerIds)
  if (status === 'COMPLETED') payment.capabilities = ['EDIT_TIP_AMOUNT', 'EDIT_TIP_AMOUNT_UP', 'EDIT_TIP_AMOUNT_DOWN']
  return payment
}

export function buildCategories(rng: Prng, createdMs: number, version: number): SquareCatalogObject[] {
  return CATEGORY_NAMES.map((name) => ({
    type: 'CATEGORY',
    id: squareIds.catalogObject(rng),
    updated_at: iso(createdMs),
    created_at: iso(createdMs),
    version,
    is_deleted: false,
    present_at_all_locations: true,
    category_data: { name, category_type: 'REGULAR_CATEGORY', is_top_level: true },
  }))
}

export function buildItem(rng: Prng, index: number, currency: string, categoryIds: readonly string[], createdMs: number, updatedMs: number, version: number): SquareCatalogObject {
  const id = squareIds.catalogObject(rng)
  const name = fakeProductName(rng, index)
  const basePrice = rng.int(2, 120) * 100 + rng.pick([0, 50, 99] as const)
  const variationNames = rng.next() < 0.25 ? ['Regular', 'Premium'] : ['Regular']
  const variations: SquareItemVariation[] = variationNames.map((variationName, ordinal) => ({
    type: 'ITEM_VARIATION',
    id: squareIds.catalogObject(rng),
    updated_at: iso(updatedMs),
    created_at: iso(createdMs),
    version,
    is_deleted: false,
    present_at_all_locations: true,
    item_variation_data: {
      item_id: id,
      name: variationName,
      ordinal,
      pricing_type: 'FIXED_PRICING',
      price_money: { amount: basePrice + ordinal * 1500, currency },
      sellable: true,
      stockable: true,
    },
  }))
  const description = `${name} for the current season.`
  const categoryId = categoryIds.length > 0 ? rng.pick(categoryIds) : undefined
  return {
    type: 'ITEM',
    id,
    updated_at: iso(updatedMs),
    created_at: iso(createdMs),
    version,
    is_deleted: false,
    present_at_all_locations: true,
    item_data: {
      name,
      description,
      description_html: `<p>${description}</p>`,
      description_plaintext: description,
      is_taxable: true,
      is_archived: rng.next() < 0.05,
      product_type: 'REGULAR',
      ...(categoryId ? { categories: [{ id: categoryId, ordinal: 0 }], reporting_category: { id: categoryId, ordinal: 0 } } : {}),
      variations,
    },
  }
}

/** A past (created, updated) pair, updated never later than `latestMs`. */
export function pastTimes(rng: Prng, now: number, maxAgeDays: number, latestMs: number): { created: number; updated: number } {
  const created = now - rng.int(1, maxAgeDays) * DAY - rng.int(0, DAY - 1)
  const ceiling = Math.max(created, latestMs)
  const updated = rng.next() < 0.4 ? created : created + Math.floor(rng.next() * (ceiling - created))
  return { created: Math.min(created, latestMs), updated: Math.min(Math.max(updated, created), latestMs) }
}
