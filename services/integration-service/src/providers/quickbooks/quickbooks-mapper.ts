// QuickBooks objects → canonical records. Money becomes integer minor units; timestamps, which
// QuickBooks writes in company-local time with an offset, become UTC ISO 8601.
import type { CanonicalCustomer, CanonicalInvoice, CanonicalPayment, CanonicalProduct, CanonicalRecord, EntityName } from '../canonical.ts'
import { ProviderInvalidError } from '../provider-errors.ts'
import type { QboEntityName, QboObject } from './quickbooks-client.ts'
import { PROVIDER } from './quickbooks-errors.ts'
import { decimalToMinor } from './quickbooks-money.ts'

export const ENTITY_MAP = {
  customer: 'Customer',
  invoice: 'Invoice',
  payment: 'Payment',
  product: 'Item',
} as const satisfies Partial<Record<EntityName, QboEntityName>>

export type QboSyncedEntity = keyof typeof ENTITY_MAP
export const QBO_SYNCED_ENTITIES = Object.keys(ENTITY_MAP) as QboSyncedEntity[]

export function qboEntityFor(entity: EntityName): QboEntityName {
  const mapped = (ENTITY_MAP as Partial<Record<EntityName, QboEntityName>>)[entity]
  if (!mapped) throw new ProviderInvalidError(PROVIDER, `QuickBooks has no ${entity} entity (supported: ${QBO_SYNCED_ENTITIES.join(', ')})`)
  return mapped
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null
}

function nested(object: QboObject, key: string, field: string): string | null {
  const inner = object[key]
  return inner && typeof inner === 'object' ? str((inner as QboObject)[field]) : null
}

/** `2024-01-05T10:33:39-08:00` → `2024-01-05T18:33:39.000Z`; null when absent or unparsable. */
export function toUtcIso(value: unknown): string | null {
  if (typeof value !== 'string') return null
  const ms = Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  return Number.isNaN(ms) ? null : new Date(ms).toISOString()
}

export function lastUpdatedMs(object: QboObject): number | null {
  const iso = toUtcIso((object.MetaData as QboObject | undefined)?.LastUpdatedTime)
  return iso === null ? null : Date.parse(iso)
}

/** Inactive customers are QuickBooks' deletions; inactive items stay products with active=false. */
export function isDeletion(entity: QboEntityName, object: QboObject): boolean {
  if (object.status === 'Deleted') return true
  return entity === 'Customer' && object.Active === false
}

export function objectCurrency(object: QboObject, homeCurrency: string | null): string {
  const currency = nested(object, 'CurrencyRef', 'value') ?? homeCurrency
  if (!currency) throw new ProviderInvalidError(PROVIDER, `QuickBooks object ${String(object.Id)} has no CurrencyRef and the company's home currency is unknown`)
  return currency.toUpperCase()
}

/** True when mapping these objects needs the company's home currency (items never carry one). */
export function needsHomeCurrency(entity: QboEntityName, objects: QboObject[]): boolean {
  if (entity === 'Customer') return false
  if (entity === 'Item') return objects.some((object) => object.UnitPrice !== undefined && object.UnitPrice !== null)
  return objects.some((object) => object.status !== 'Deleted' && nested(object, 'CurrencyRef', 'value') === null)
}

function amount(value: unknown, currency: string, field: string, id: unknown): number {
  if (typeof value !== 'number' && typeof value !== 'string') {
    if (value === undefined || value === null) return 0
    throw new ProviderInvalidError(PROVIDER, `QuickBooks ${field} of ${String(id)} is not a number`)
  }
  return decimalToMinor(value, currency)
}

function mapCustomer(object: QboObject): CanonicalCustomer {
  return {
    email: nested(object, 'PrimaryEmailAddr', 'Address'),
    givenName: str(object.GivenName),
    familyName: str(object.FamilyName),
    phone: nested(object, 'PrimaryPhone', 'FreeFormNumber') ?? nested(object, 'Mobile', 'FreeFormNumber'),
    companyName: str(object.CompanyName),
    createdAt: toUtcIso((object.MetaData as QboObject | undefined)?.CreateTime),
  }
}

function mapProduct(object: QboObject, homeCurrency: string | null): CanonicalProduct {
  const hasPrice = typeof object.UnitPrice === 'number' || typeof object.UnitPrice === 'string'
  const currency = hasPrice ? objectCurrency(object, homeCurrency) : null
  return {
    name: str(object.Name) ?? str(object.FullyQualifiedName) ?? `Item ${String(object.Id)}`,
    description: str(object.Description),
    active: object.Active !== false,
    unitAmount: hasPrice && currency ? amount(object.UnitPrice, currency, 'UnitPrice', object.Id) : null,
    currency,
  }
}

/** QuickBooks has no invoice status field; it follows from Balance, TotalAmt and DueDate. */
export function invoiceStatus(object: QboObject, total: number, balance: number, today = new Date().toISOString().slice(0, 10)): string {
  if (total === 0 && /\bvoided?\b/i.test(String(object.PrivateNote ?? ''))) return 'void'
  if (balance <= 0) return 'paid'
  const due = str(object.DueDate)
  if (due !== null && due < today) return 'overdue'
  if (balance < total) return 'partially_paid'
  return 'open'
}

function mapInvoice(object: QboObject, homeCurrency: string | null): CanonicalInvoice {
  const currency = objectCurrency(object, homeCurrency)
  const total = amount(object.TotalAmt, currency, 'TotalAmt', object.Id)
  const balance = object.Balance === undefined ? total : amount(object.Balance, currency, 'Balance', object.Id)
  return {
    number: str(object.DocNumber),
    customerExternalId: nested(object, 'CustomerRef', 'value'),
    total,
    currency,
    status: invoiceStatus(object, total, balance),
    dueDate: str(object.DueDate),
  }
}

function mapPayment(object: QboObject, homeCurrency: string | null): CanonicalPayment {
  const currency = objectCurrency(object, homeCurrency)
  return {
    amount: amount(object.TotalAmt, currency, 'TotalAmt', object.Id),
    currency,
    // A QuickBooks Payment is money already received; it has no pending or failed states.
    status: 'completed',
    customerExternalId: nested(object, 'CustomerRef', 'value'),
    createdAt: toUtcIso((object.MetaData as QboObject | undefined)?.CreateTime) ?? toUtcIso(object.TxnDate),
  }
}

export function mapRecord<E extends EntityName>(entity: E, object: QboObject, homeCurrency: string | null): CanonicalRecord<E> {
  const id = str(object.Id)
  if (id === null) throw new ProviderInvalidError(PROVIDER, `QuickBooks ${entity} without an Id`)
  let data: unknown
  switch (entity) {
    case 'customer':
      data = mapCustomer(object)
      break
    case 'product':
      data = mapProduct(object, homeCurrency)
      break
    case 'invoice':
      data = mapInvoice(object, homeCurrency)
      break
    case 'payment':
      data = mapPayment(object, homeCurrency)
      break
    default:
      throw new ProviderInvalidError(PROVIDER, `QuickBooks has no ${entity} entity`)
  }
  return {
    entity,
    externalId: id,
    data: data as CanonicalRecord<E>['data'],
    raw: object,
    updatedAt: toUtcIso((object.MetaData as QboObject | undefined)?.LastUpdatedTime),
  }
}
