// How each hub entity is read from Square, in both modes. Incremental windows have no upper
// bound: every listing is ordered by creation time, which edits never change, so a record edited
// during the walk is either already behind the cursor (and its new version comes next run) or
// still ahead (and is read in its new state now). An upper bound at the run start would instead
// depend on the client and Square clocks agreeing.
//
// customer: full = ListCustomers sorted by CREATED_AT ascending (the DEFAULT name sort would let
//   a renamed customer jump across a page boundary). Incremental = SearchCustomers filtered on
//   updated_at >= since. Square keeps no customer tombstones: deletions only reach the hub through
//   `customer.deleted` webhooks, or as absences the sync engine's full sync detects.
// payment: ListPayments, one location at a time (it only returns the main location's payments
//   unless told otherwise) and with an explicit begin_time (it defaults to the last year), sorted
//   by CREATED_AT ascending. Incremental adds updated_at_begin_time, which also catches status
//   changes and refunds of old payments; a created_at (begin_time) window would miss those.
//   Payments are never deleted on Square.
// product: catalog ITEMs. Full = ListCatalog types=ITEM; incremental = SearchCatalogObjects with
//   begin_time and include_deleted_objects, whose `is_deleted` tombstones become deletedIds.
import type { Square, SquareClient } from 'square'
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { ProviderContext } from '../provider-adapter.ts'
import { requestOptions } from './square-client.ts'
import { isCatalogItem, mapCustomer, mapPayment, mapProduct } from './square-mapper.ts'

/** Before any Square payment existed: ListPayments would otherwise stop at one year back. */
const PAYMENTS_EPOCH = '2009-01-01T00:00:00Z'

export interface SourceItem {
  id: string
  /** Identifies this version of the record: `updated_at|version`. */
  stamp: string
  updatedAt: string | null
  record: CanonicalRecord | null
  deleted: boolean
}

export interface SourcePage {
  items: SourceItem[]
  next: string | null
}

export interface PageRequest {
  client: SquareClient
  ctx: ProviderContext
  mode: 'full' | 'incremental'
  cursor: string | null
  pageSize: number | undefined
  /** Lower bound (ISO) of an incremental window. */
  since: string | null
  partition: string | undefined
}

export interface EntitySource {
  /** Sub-listings walked one after another (payment locations); absent = one listing. */
  partitions?(client: SquareClient, ctx: ProviderContext): Promise<string[]>
  page(request: PageRequest): Promise<SourcePage>
  fetchOne(client: SquareClient, ctx: ProviderContext, id: string): Promise<CanonicalRecord | null>
}

const clamp = (value: number | undefined, max: number, fallback: number): number => (value === undefined ? fallback : Math.min(max, Math.max(1, Math.floor(value))))

const stampOf = (updatedAt: string | undefined, version: unknown): string => `${updatedAt ?? ''}|${version === undefined || version === null ? '' : String(version)}`

function customerItem(customer: Square.Customer): SourceItem {
  return { id: customer.id ?? '', stamp: stampOf(customer.updatedAt, customer.version), updatedAt: customer.updatedAt ?? null, record: mapCustomer(customer), deleted: false }
}

function paymentItem(payment: Square.Payment): SourceItem {
  return { id: payment.id ?? '', stamp: stampOf(payment.updatedAt, payment.versionToken), updatedAt: payment.updatedAt ?? null, record: mapPayment(payment), deleted: false }
}

function catalogItems(objects: Square.CatalogObject[] | undefined): SourceItem[] {
  return (objects ?? []).filter(isCatalogItem).map((item) => ({
    id: item.id,
    stamp: stampOf(item.updatedAt, item.version),
    updatedAt: item.updatedAt ?? null,
    record: item.isDeleted ? null : mapProduct(item),
    deleted: item.isDeleted === true,
  }))
}

const customers: EntitySource = {
  async page({ client, ctx, mode, cursor, pageSize, since }) {
    const limit = clamp(pageSize, 100, 100)
    if (mode === 'full') {
      const page = await client.customers.list({ cursor: cursor ?? undefined, limit, sortField: 'CREATED_AT', sortOrder: 'ASC' }, requestOptions(ctx))
      return { items: page.data.map(customerItem), next: page.response.cursor || null }
    }
    const response = await client.customers.search(
      {
        cursor: cursor ?? undefined,
        limit: BigInt(limit),
        query: { filter: { updatedAt: { startAt: since ?? undefined } }, sort: { field: 'CREATED_AT', order: 'ASC' } },
      },
      requestOptions(ctx),
    )
    return { items: (response.customers ?? []).map(customerItem), next: response.cursor || null }
  },
  async fetchOne(client, ctx, id) {
    const response = await client.customers.get({ customerId: id }, requestOptions(ctx))
    return response.customer ? mapCustomer(response.customer) : null
  },
}

const payments: EntitySource = {
  async partitions(client, ctx) {
    const response = await client.locations.list(requestOptions(ctx))
    return (response.locations ?? []).map((location) => location.id).filter((id): id is string => typeof id === 'string')
  },
  async page({ client, ctx, mode, cursor, pageSize, since, partition }) {
    const request: Square.ListPaymentsRequest = {
      cursor: cursor ?? undefined,
      limit: clamp(pageSize, 100, 100),
      locationId: partition,
      beginTime: PAYMENTS_EPOCH,
      sortField: 'CREATED_AT',
      sortOrder: 'ASC',
      ...(mode === 'incremental' && since ? { updatedAtBeginTime: since } : {}),
    }
    const page = await client.payments.list(request, requestOptions(ctx))
    return { items: page.data.map(paymentItem), next: page.response.cursor || null }
  },
  async fetchOne(client, ctx, id) {
    const response = await client.payments.get({ paymentId: id }, requestOptions(ctx))
    return response.payment ? mapPayment(response.payment) : null
  },
}

const products: EntitySource = {
  async page({ client, ctx, mode, cursor, pageSize, since }) {
    if (mode === 'full') {
      // ListCatalog takes no page size; Square picks it.
      const page = await client.catalog.list({ cursor: cursor ?? undefined, types: 'ITEM' }, requestOptions(ctx))
      return { items: catalogItems(page.data), next: page.response.cursor || null }
    }
    const response = await client.catalog.search({ cursor: cursor ?? undefined, objectTypes: ['ITEM'], includeDeletedObjects: true, beginTime: since ?? undefined, limit: clamp(pageSize, 1000, 100) }, requestOptions(ctx))
    return { items: catalogItems(response.objects), next: response.cursor || null }
  },
  async fetchOne(client, ctx, id) {
    const response = await client.catalog.object.get({ objectId: id }, requestOptions(ctx))
    const object = response.object
    return object && isCatalogItem(object) && !object.isDeleted ? mapProduct(object) : null
  },
}

export const SQUARE_SOURCES: Partial<Record<EntityName, EntitySource>> = { customer: customers, payment: payments, product: products }
