// In-memory QuickBooks companies ("realms"). Each realm keeps its objects in Id order, stamps
// MetaData the way QuickBooks does (company-local time, whole seconds, SyncToken bumped on every
// change) and remembers hard deletions so CDC can report them.
import { createPrng, seedFrom } from '../common/prng.ts'
import type { Prng } from '../common/prng.ts'
import { buildCustomer, buildInvoice, buildItem, buildPayment } from './quickbooks-seed.ts'
import type { QboObject, SeedRefs } from './quickbooks-seed.ts'
import { DAY_MS, floorToSecond, formatIntuitTime } from './quickbooks-time.ts'

export const QBO_ENTITIES = ['Customer', 'Item', 'Invoice', 'Payment', 'SalesReceipt'] as const
export type QboEntityName = (typeof QBO_ENTITIES)[number]
/** Entities the seed and control API generate (sales receipts only arrive through the API). */
export const SEEDED_ENTITIES = ['Customer', 'Item', 'Invoice', 'Payment'] as const

/** Name-list entities are never deleted in QuickBooks, only made inactive. */
export const SOFT_DELETED: ReadonlySet<QboEntityName> = new Set<QboEntityName>(['Customer', 'Item'])

export type ChangeOperation = 'Create' | 'Update' | 'Delete'

export interface StoredEntity {
  id: number
  createdMs: number
  updatedMs: number
  object: QboObject
}

export interface Tombstone {
  id: number
  deletedMs: number
}

export type ChangeListener = (realm: QboRealm, entity: QboEntityName, id: string, operation: ChangeOperation, atMs: number) => void

const ALIASES: Record<string, QboEntityName> = {
  customer: 'Customer',
  customers: 'Customer',
  item: 'Item',
  items: 'Item',
  product: 'Item',
  products: 'Item',
  invoice: 'Invoice',
  invoices: 'Invoice',
  payment: 'Payment',
  payments: 'Payment',
  salesreceipt: 'SalesReceipt',
  salesreceipts: 'SalesReceipt',
}

/** Accepts QuickBooks names in any case plus the hub's entity names (`product` is Item). */
export function resolveEntity(name: string): QboEntityName | undefined {
  return ALIASES[name.toLowerCase()]
}

const CURRENCIES = ['USD', 'USD', 'USD', 'GBP', 'CAD', 'AUD'] as const
const VENUE_WORDS = ['Playhouse', 'Theatre', 'Opera House', 'Music Hall', 'Arena', 'Jazz Club', 'Comedy Cellar', 'Concert Hall'] as const
const TOWNS = ['Riverside', 'Oakridge', 'Lakeview', 'Brookfield', 'Fairmont', 'Kingsbury', 'Westhaven', 'Millbrook'] as const

export interface RealmInit {
  realmId: string
  seed: string
  companyName?: string
  currency?: string
}

export class QboRealm {
  readonly realmId: string
  readonly companyName: string
  readonly currency: string
  readonly createdMs: number
  readonly rng: Prng
  /** `${entity}:${requestid}` → id of the object the first request created. */
  readonly requestIds = new Map<string, number>()
  readonly #records = new Map<QboEntityName, Map<number, StoredEntity>>()
  readonly #tombstones = new Map<QboEntityName, Tombstone[]>()
  readonly #listeners: ChangeListener[]
  #nextNameId = new Map<QboEntityName, number>()
  #nextTxnId = 1
  #personIndex = 0
  #productIndex = 0
  #docNumber = 1000

  constructor(init: RealmInit, listeners: ChangeListener[], nowMs = Date.now()) {
    this.realmId = init.realmId
    this.rng = createPrng(seedFrom(init.seed, 'quickbooks', init.realmId))
    this.companyName = init.companyName ?? `${this.rng.pick(TOWNS)} ${this.rng.pick(VENUE_WORDS)}`
    this.currency = init.currency ?? this.rng.pick(CURRENCIES)
    this.createdMs = floorToSecond(nowMs - 400 * DAY_MS)
    this.#listeners = listeners
    for (const entity of QBO_ENTITIES) {
      this.#records.set(entity, new Map())
      this.#tombstones.set(entity, [])
    }
  }

  records(entity: QboEntityName): Map<number, StoredEntity> {
    return this.#records.get(entity) as Map<number, StoredEntity>
  }

  tombstones(entity: QboEntityName): readonly Tombstone[] {
    return this.#tombstones.get(entity) as Tombstone[]
  }

  get(entity: QboEntityName, id: string | number): StoredEntity | undefined {
    const numeric = typeof id === 'number' ? id : /^\d{1,15}$/.test(id) ? Number(id) : Number.NaN
    return this.records(entity).get(numeric)
  }

  #allocateId(entity: QboEntityName): number {
    // Transactions share one sequence in QuickBooks; name lists count on their own.
    if (entity === 'Invoice' || entity === 'Payment' || entity === 'SalesReceipt') return this.#nextTxnId++
    const next = this.#nextNameId.get(entity) ?? 1
    this.#nextNameId.set(entity, next + 1)
    return next
  }

  nextDocNumber(): number {
    return ++this.#docNumber
  }

  insert(entity: QboEntityName, body: QboObject, createdMs: number, updatedMs = createdMs, notify = true): StoredEntity {
    const id = this.#allocateId(entity)
    const created = floorToSecond(createdMs)
    const updated = floorToSecond(Math.max(updatedMs, createdMs))
    const object: QboObject = {
      ...body,
      domain: 'QBO',
      sparse: false,
      Id: String(id),
      SyncToken: '0',
      MetaData: { CreateTime: formatIntuitTime(created), LastUpdatedTime: formatIntuitTime(updated) },
    }
    const stored: StoredEntity = { id, createdMs: created, updatedMs: updated, object }
    this.records(entity).set(id, stored)
    if (notify) this.#emit(entity, String(id), 'Create', updated)
    return stored
  }

  /** A full or sparse update: merges fields, bumps SyncToken and LastUpdatedTime. */
  update(entity: QboEntityName, stored: StoredEntity, fields: QboObject, nowMs = Date.now(), operation: ChangeOperation = 'Update'): StoredEntity {
    const { Id: _id, SyncToken: _sync, MetaData: _meta, domain: _domain, sparse: _sparse, ...rest } = fields
    const updated = floorToSecond(nowMs)
    const meta = stored.object.MetaData as QboObject
    stored.object = {
      ...stored.object,
      ...rest,
      SyncToken: String(Number(stored.object.SyncToken) + 1),
      MetaData: { ...meta, LastUpdatedTime: formatIntuitTime(updated) },
    }
    if (entity === 'Customer' && typeof rest.DisplayName === 'string') stored.object.FullyQualifiedName = rest.DisplayName
    stored.updatedMs = updated
    this.#emit(entity, String(stored.id), operation, updated)
    return stored
  }

  /** Customers and items become inactive; transactions disappear, leaving a CDC tombstone. */
  remove(entity: QboEntityName, stored: StoredEntity, nowMs = Date.now()): void {
    if (SOFT_DELETED.has(entity)) {
      this.update(entity, stored, { Active: false }, nowMs, 'Delete')
      return
    }
    const at = floorToSecond(nowMs)
    this.records(entity).delete(stored.id)
    ;(this.#tombstones.get(entity) as Tombstone[]).push({ id: stored.id, deletedMs: at })
    this.#emit(entity, String(stored.id), 'Delete', at)
  }

  #emit(entity: QboEntityName, id: string, operation: ChangeOperation, atMs: number): void {
    for (const listener of this.#listeners) listener(this, entity, id, operation, atMs)
  }

  #randomExisting(entity: QboEntityName): StoredEntity | undefined {
    const records = this.records(entity)
    if (records.size === 0) return undefined
    const upper = entity === 'Customer' || entity === 'Item' ? (this.#nextNameId.get(entity) ?? 1) - 1 : this.#nextTxnId - 1
    for (let attempt = 0; attempt < 4; attempt++) {
      const found = records.get(this.rng.int(1, upper))
      if (found) return found
    }
    return records.values().next().value
  }

  #refs(): SeedRefs {
    const customer = this.#randomExisting('Customer')
    const items: SeedRefs['items'] = []
    for (let n = 0; n < 3; n++) {
      const item = this.#randomExisting('Item')
      if (item) items.push({ id: String(item.id), name: String(item.object.Name), unitCents: Math.round(Number(item.object.UnitPrice) * 100) })
    }
    return { customer: customer ? { id: String(customer.id), name: String(customer.object.DisplayName) } : null, items, invoice: null }
  }

  /**
   * Adds `count` generated objects. `historical` spreads them over the company's past (the
   * initial seed, invisible to an incremental sync started now); otherwise they are new now.
   */
  seed(entity: QboEntityName, count: number, options: { historical: boolean; nowMs?: number } = { historical: false }): StoredEntity[] {
    const now = options.nowMs ?? Date.now()
    const out: StoredEntity[] = []
    if ((entity === 'Invoice' || entity === 'Payment') && this.records('Customer').size === 0) this.seed('Customer', 1, options)
    for (let i = 0; i < count; i++) {
      let created = now
      let updated = now
      if (options.historical) {
        const span = now - DAY_MS - this.createdMs
        created = this.createdMs + Math.floor((span * i) / Math.max(1, count)) + this.rng.int(0, 3_600_000)
        updated = Math.min(created + this.rng.int(0, 20) * DAY_MS + this.rng.int(0, 86_399) * 1000, now - DAY_MS)
      }
      out.push(this.insert(entity, this.#build(entity, created, now), created, updated, !options.historical))
    }
    return out
  }

  #build(entity: QboEntityName, createdMs: number, nowMs: number): QboObject {
    switch (entity) {
      case 'Customer':
        return buildCustomer(this.rng, ++this.#personIndex, this.currency)
      case 'Item':
        return buildItem(this.rng, ++this.#productIndex)
      case 'Invoice':
        return buildInvoice(this.rng, this.nextDocNumber(), createdMs, this.currency, this.#refs(), nowMs)
      case 'Payment': {
        const refs = this.#refs()
        const invoice = this.#randomExisting('Invoice')
        if (invoice && this.rng.next() < 0.7) {
          const ref = invoice.object.CustomerRef as { value: string; name: string } | undefined
          if (ref) refs.customer = { id: ref.value, name: ref.name }
          refs.invoice = { id: String(invoice.id), cents: Math.round(Number(invoice.object.TotalAmt) * 100) }
        }
        return buildPayment(this.rng, createdMs, this.currency, refs)
      }
      case 'SalesReceipt': {
        // A receipt is an invoice paid on the spot: same lines, no due date, nothing owed.
        const { DueDate: _due, EmailStatus: _email, Balance: _balance, AllowIPNPayment: _ipn, ...receipt } = buildInvoice(this.rng, this.nextDocNumber(), createdMs, this.currency, this.#refs(), nowMs)
        return { ...receipt, Balance: 0, PrintStatus: 'NotSet', EmailStatus: 'NotSet', DepositToAccountRef: { value: '4', name: 'Undeposited Funds' } }
      }
    }
  }
}

export interface CreateRealmOptions {
  realmId?: string
  companyName?: string
  currency?: string
  /** Records per seeded entity; the simulator's recordsPerEntity when omitted. */
  count?: number
  /** Seed only these entities (others start empty). */
  entities?: QboEntityName[]
}

/** All companies of one simulator. Realm ids are 16 digits, deterministic per seed and order. */
export class QboRealmRegistry {
  readonly #realms = new Map<string, QboRealm>()
  readonly #seed: string
  readonly #defaultCount: number
  readonly listeners: ChangeListener[] = []
  #counter = 0

  constructor(seed: string, defaultCount: number) {
    this.#seed = seed
    this.#defaultCount = defaultCount
  }

  get(realmId: string): QboRealm | undefined {
    return this.#realms.get(realmId)
  }

  create(options: CreateRealmOptions = {}): QboRealm {
    let realmId = options.realmId
    while (!realmId || this.#realms.has(realmId)) {
      if (options.realmId && this.#realms.has(options.realmId)) return this.#realms.get(options.realmId) as QboRealm
      const n = seedFrom(this.#seed, 'realm', ++this.#counter)
      realmId = `9130${String(n).padStart(10, '0')}${String(this.#counter % 100).padStart(2, '0')}`
    }
    const realm = new QboRealm({ realmId, seed: this.#seed, companyName: options.companyName, currency: options.currency }, this.listeners)
    const count = options.count ?? this.#defaultCount
    for (const entity of options.entities ?? SEEDED_ENTITIES) realm.seed(entity, count, { historical: true })
    this.#realms.set(realmId, realm)
    return realm
  }
}
