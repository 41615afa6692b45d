// Data access for venues and members: knex and nothing else. Every function takes the
// tenant-scoped transaction, so row-level security decides what it can see.
import type { Knex } from 'knex'
import type { Member, Venue } from '@hub/contracts'
import { jsonb } from '@hub/service-kit'

interface VenueRow {
  id: string
  tenant_id: string
  name: string
  slug: string
  timezone: string
  currency: string
  address: Venue['address'] | Record<string, never>
  capacity: number | null
  status: Venue['status']
  created_by: string
  created_at: Date
  updated_at: Date
  archived_at: Date | null
  /** Exact text of created_at, so cursors round-trip microseconds. */
  created_key?: string
}

interface MemberRow {
  venue_id: string
  user_id: string
  role: Member['role']
  created_at: Date
  updated_at: Date
}

export function toVenue(row: VenueRow): Venue {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    slug: row.slug,
    timezone: row.timezone,
    currency: row.currency,
    address: row.address && Object.keys(row.address).length > 0 ? (row.address as Venue['address']) : null,
    capacity: row.capacity,
    status: row.status,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    archivedAt: row.archived_at ? row.archived_at.toISOString() : null,
  }
}

const toMember = (row: MemberRow): Member => ({
  venueId: row.venue_id,
  userId: row.user_id,
  role: row.role,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
})

export interface VenueInsert {
  tenantId: string
  name: string
  slug: string
  timezone: string
  currency: string
  address: Venue['address']
  capacity: number | null
  createdBy: string
}

export interface VenueListFilter {
  status?: Venue['status']
  currency?: string
  q?: string
  /** Non-admins carrying venue_ids see only those. */
  onlyIds?: string[] | null
}

export interface VenueListPage {
  sort: 'created_at' | 'name'
  direction: 'asc' | 'desc'
  limit: number
  after?: { key: string; id: string }
}

export function createVenueRepository() {
  const venues = (trx: Knex.Transaction) => trx<VenueRow>('venue.venues')

  return {
    async insert(trx: Knex.Transaction, venue: VenueInsert): Promise<Venue> {
      const [row] = await venues(trx)
        .insert({
          tenant_id: venue.tenantId,
          name: venue.name,
          slug: venue.slug,
          timezone: venue.timezone,
          currency: venue.currency,
          address: jsonb(venue.address ?? {}),
          capacity: venue.capacity,
          created_by: venue.createdBy,
        })
        .returning('*')
      return toVenue(row as VenueRow)
    },

    async findById(trx: Knex.Transaction, id: string, options: { forUpdate?: boolean } = {}): Promise<Venue | null> {
      const query = venues(trx).where({ id }).first()
      const row = await (options.forUpdate ? query.forUpdate() : query)
      return row ? toVenue(row) : null
    },

    async update(trx: Knex.Transaction, id: string, changes: Partial<Omit<VenueInsert, 'tenantId' | 'createdBy'>> & { status?: Venue['status']; archivedAt?: Date | null }): Promise<Venue | null> {
      const patch: Record<string, unknown> = { updated_at: trx.fn.now() }
      if (changes.name !== undefined) patch.name = changes.name
      if (changes.slug !== undefined) patch.slug = changes.slug
      if (changes.timezone !== undefined) patch.timezone = changes.timezone
      if (changes.currency !== undefined) patch.currency = changes.currency
      if (changes.address !== undefined) patch.address = JSON.stringify(changes.address ?? {})
      if (changes.capacity !== undefined) patch.capacity = changes.capacity
      if (changes.status !== undefined) patch.status = changes.status
      if (changes.archivedAt !== undefined) patch.archived_at = changes.archivedAt
      const [row] = await venues(trx).where({ id }).update(patch).returning('*')
      return row ? toVenue(row as VenueRow) : null
    },

    async delete(trx: Knex.Transaction, id: string): Promise<boolean> {
      return (await venues(trx).where({ id }).delete()) > 0
    },

    /** Keyset pagination: stable under inserts, no OFFSET scans. */
    async list(trx: Knex.Transaction, filter: VenueListFilter, page: VenueListPage): Promise<Array<Venue & { cursorKey: string }>> {
      const sortExpr = page.sort === 'name' ? 'lower(name)' : 'created_at'
      const keyExpr = page.sort === 'name' ? 'lower(name)' : 'created_at::text'
      const query = venues(trx).select('*', trx.raw(`${keyExpr} as created_key`))
      // No tenant filter here on purpose: row-level security supplies it.
      if (filter.status) query.where('status', filter.status)
      if (filter.currency) query.where('currency', filter.currency)
      if (filter.q) {
        const pattern = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
        query.where((w) => w.whereILike('name', pattern).orWhereILike('slug', pattern))
      }
      if (filter.onlyIds) query.whereIn('id', filter.onlyIds)
      if (page.after) {
        const op = page.direction === 'asc' ? '>' : '<'
        const cast = page.sort === 'name' ? '' : '::timestamptz'
        query.whereRaw(`(${sortExpr}, id) ${op} (?${cast}, ?::uuid)`, [page.after.key, page.after.id])
      }
      const rows = await query.orderByRaw(`${sortExpr} ${page.direction}, id ${page.direction}`).limit(page.limit)
      return rows.map((row) => ({ ...toVenue(row), cursorKey: String(row.created_key) }))
    },

    async listMembers(trx: Knex.Transaction, venueId: string, page: { limit: number; after?: string | undefined }): Promise<Member[]> {
      const query = trx<MemberRow>('venue.venue_members').where({ venue_id: venueId })
      if (page.after !== undefined) query.where('user_id', '>', page.after)
      const rows = await query.orderBy('user_id').limit(page.limit)
      return rows.map(toMember)
    },

    async findMember(trx: Knex.Transaction, venueId: string, userId: string): Promise<Member | null> {
      const row = await trx<MemberRow>('venue.venue_members').where({ venue_id: venueId, user_id: userId }).first()
      return row ? toMember(row) : null
    },

    async upsertMember(trx: Knex.Transaction, tenantId: string, venueId: string, userId: string, role: Member['role']): Promise<Member> {
      const [row] = await trx('venue.venue_members').insert({ venue_id: venueId, tenant_id: tenantId, user_id: userId, role }).onConflict(['venue_id', 'user_id']).merge({ role, updated_at: trx.fn.now() }).returning('*')
      return toMember(row as MemberRow)
    },

    async deleteMember(trx: Knex.Transaction, venueId: string, userId: string): Promise<boolean> {
      return (await trx('venue.venue_members').where({ venue_id: venueId, user_id: userId }).delete()) > 0
    },
  }
}

export type VenueRepository = ReturnType<typeof createVenueRepository>
