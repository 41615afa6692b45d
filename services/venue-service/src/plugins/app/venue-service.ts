// Venue rules: who may do what, slugs, time zones, pagination, and an audit event for every change
// in the same transaction as the change.
import { Type } from '@sinclair/typebox'
import type { Knex } from 'knex'
import { auditActor, canManageVenue, canReadVenue, CursorField, isCleanString, isTimestampInRange, isTimezone, readCursor, page, hasRole, type AuditEvent, type AuditOutbox, type Database, type RequestContext } from '@hub/service-kit'
import type { CreateVenue, IntegrationClient, ListMembers, ListVenues, Member, UpdateVenue, Venue } from '@hub/contracts'
import type { VenueRepository } from './venue-repository.ts'
import { IntegrationsUnavailableError, InvalidCurrencyError, InvalidTimezoneError, MemberNotFoundError, VenueAccessDeniedError, VenueArchivedError, VenueNotFoundError, VenueSlugTakenError } from './venue-errors.ts'

// ICU's list of ISO 4217 codes, as Node ships it ("ABC" matches the pattern but is no currency).
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'))

// Cursor keys are as long as the server can issue them; the whole cursor is bounded by decodeCursor
// (2048 characters) and by the `cursor` query schemas in @hub/contracts. TypeBox counts UTF-16 units.
// A member's user id is at most 200 characters (MemberParams), two units each when astral.
const MemberCursor = Type.Object({ u: Type.String({ minLength: 1, maxLength: 400, pattern: '^[^/\\s\\u0000]+$' }) })
// The name key is lower(name) of a name of at most 200 characters: two units at most for each
// (an astral character, or İ, which lowers to i and a combining dot).
const CursorSchema = Type.Object({ s: Type.String(), k: Type.String({ maxLength: 400 }), id: CursorField.uuid() })

export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '')
  return slug || 'venue'
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === '23505'
}

export function createVenueService(deps: {
  db: Pick<Database, 'withTenant'>
  venues: VenueRepository
  audit: AuditOutbox
  /** integration-service, told before a venue is deleted; null when not configured. */
  integrations?: Pick<IntegrationClient, 'disconnectVenue'> | null
  logger?: { warn(obj: object, msg?: string): void }
}) {
  const { db, venues, audit } = deps

  const auditEvent = (ctx: RequestContext, action: string, entityType: string, entityId: string, before?: unknown, after?: unknown): AuditEvent => ({
    ...auditActor(ctx),
    action,
    entityType,
    entityId,
    before,
    after,
  })

  /** Not visible (other tenant, or outside a non-admin's venue_ids) is the same 404 either way. */
  async function visibleVenue(trx: Knex.Transaction, ctx: RequestContext, id: string, forUpdate = false): Promise<Venue> {
    const venue = await venues.findById(trx, id, { forUpdate })
    if (!venue || !canReadVenue(ctx.principal, id)) throw new VenueNotFoundError()
    return venue
  }

  /**
   * The venue, locked, if the caller may change it. An archived venue is read-only: only archive
   * (a no-op), restore and delete take `evenIfArchived`. The role is checked first, so a caller who
   * may not write learns nothing from the archive.
   */
  async function writableVenue(trx: Knex.Transaction, ctx: RequestContext, id: string, action: string, options: { evenIfArchived?: boolean } = {}): Promise<Venue> {
    const venue = await visibleVenue(trx, ctx, id, true)
    if (!canManageVenue(ctx.principal, id)) throw new VenueAccessDeniedError(action)
    if (venue.status === 'archived' && !options.evenIfArchived) throw new VenueArchivedError(action)
    return venue
  }

  function checkCurrency(currency: string | undefined): void {
    if (currency !== undefined && !CURRENCIES.has(currency)) throw new InvalidCurrencyError(currency)
  }

  function checkTimezone(timezone: string | undefined): void {
    if (timezone !== undefined && !isTimezone(timezone)) throw new InvalidTimezoneError(timezone)
  }

  return {
    async list(ctx: RequestContext, query: ListVenues): Promise<{ data: Venue[]; nextCursor: string | null }> {
      const sort = query.sort.replace(/^-/, '') as 'created_at' | 'name'
      const direction = query.sort.startsWith('-') ? 'desc' : 'asc'
      let after: { key: string; id: string } | undefined
      if (query.cursor) {
        const cursor = readCursor(query.cursor, CursorSchema, {
          // The key is a timestamp when sorting by creation time: Postgres would refuse a bad one.
          accept: (value) => value.s === query.sort && (sort !== 'created_at' || isTimestampInRange(value.k)) && isCleanString(value.k),
          detail: 'The cursor is malformed or belongs to another sort order.',
        })
        after = { key: cursor.k, id: cursor.id }
      }
      const onlyIds = hasRole(ctx.principal, 'admin') ? null : ctx.principal.venueIds
      const { rows, nextCursor } = await page(
        query.limit,
        (take) => db.withTenant(ctx.principal.tenantId, (trx) => venues.list(trx, { status: query.status, currency: query.currency, q: query.q, onlyIds }, { sort, direction, limit: take, after })),
        (last) => ({ s: query.sort, k: last.cursorKey, id: last.id }),
      )
      return { data: rows.map(({ cursorKey: _key, ...venue }) => venue), nextCursor }
    },

    async get(ctx: RequestContext, id: string): Promise<Venue> {
      return db.withTenant(ctx.principal.tenantId, (trx) => visibleVenue(trx, ctx, id))
    },

    async create(ctx: RequestContext, input: CreateVenue): Promise<Venue> {
      if (!hasRole(ctx.principal, 'admin')) throw new VenueAccessDeniedError('create')
      checkTimezone(input.timezone)
      checkCurrency(input.currency)
      const slug = input.slug ?? slugify(input.name)
      try {
        return await db.withTenant(ctx.principal.tenantId, async (trx) => {
          const venue = await venues.insert(trx, {
            tenantId: ctx.principal.tenantId,
            name: input.name,
            slug,
            timezone: input.timezone,
            currency: input.currency,
            address: input.address ?? null,
            capacity: input.capacity ?? null,
            createdBy: ctx.principal.userId,
          })
          await audit.record(trx, auditEvent(ctx, 'venue.created', 'venue', venue.id, undefined, venue))
          return venue
        })
      } catch (error) {
        if (isUniqueViolation(error)) throw new VenueSlugTakenError(slug)
        throw error
      }
    },

    async update(ctx: RequestContext, id: string, input: UpdateVenue): Promise<Venue> {
      checkTimezone(input.timezone)
      checkCurrency(input.currency)
      try {
        return await db.withTenant(ctx.principal.tenantId, async (trx) => {
          const before = await writableVenue(trx, ctx, id, 'update')
          const after = (await venues.update(trx, id, input)) as Venue
          await audit.record(trx, auditEvent(ctx, 'venue.updated', 'venue', id, before, after))
          return after
        })
      } catch (error) {
        if (isUniqueViolation(error)) throw new VenueSlugTakenError(input.slug ?? '')
        throw error
      }
    },

    async setArchived(ctx: RequestContext, id: string, archived: boolean): Promise<Venue> {
      return db.withTenant(ctx.principal.tenantId, async (trx) => {
        const before = await writableVenue(trx, ctx, id, archived ? 'archive' : 'restore', { evenIfArchived: true })
        if ((before.status === 'archived') === archived) return before
        const after = (await venues.update(trx, id, { status: archived ? 'archived' : 'active', archivedAt: archived ? new Date() : null })) as Venue
        await audit.record(trx, auditEvent(ctx, archived ? 'venue.archived' : 'venue.restored', 'venue', id, before, after))
        return after
      })
    },

    async delete(ctx: RequestContext, id: string): Promise<void> {
      if (!hasRole(ctx.principal, 'admin')) throw new VenueAccessDeniedError('delete')
      const tenantId = ctx.principal.tenantId
      if (deps.integrations) {
        // The connections go first: a venue left behind by a failed call can be deleted again,
        // while live credentials left behind for a deleted venue could never be reached to remove.
        // A connection still being created (its provider calls under way) is not stored yet:
        // the sweep after the delete catches it if it is stored by then, and integration-service
        // re-checks the venue after storing one, which catches it if it is stored later.
        await db.withTenant(tenantId, (trx) => writableVenue(trx, ctx, id, 'delete', { evenIfArchived: true }))
        await deps.integrations.disconnectVenue(tenantId, id).catch((error: unknown) => {
          deps.logger?.warn({ venueId: id, err: { message: (error as Error).message } }, 'integration-service could not disconnect the venue')
          throw new IntegrationsUnavailableError()
        })
      }
      await db.withTenant(tenantId, async (trx) => {
        const before = await writableVenue(trx, ctx, id, 'delete', { evenIfArchived: true })
        await venues.delete(trx, id)
        await audit.record(trx, auditEvent(ctx, 'venue.deleted', 'venue', id, before, undefined))
      })
      await deps.integrations?.disconnectVenue(tenantId, id).catch((error: unknown) => {
        deps.logger?.warn({ venueId: id, err: { message: (error as Error).message } }, 'second sweep after deleting a venue failed')
      })
    },

    async listMembers(ctx: RequestContext, venueId: string, query: ListMembers): Promise<{ data: Member[]; nextCursor: string | null }> {
      const after = query.cursor ? readCursor(query.cursor, MemberCursor).u : undefined
      const { rows, nextCursor } = await page(
        query.limit,
        (take) =>
          db.withTenant(ctx.principal.tenantId, async (trx) => {
            await visibleVenue(trx, ctx, venueId)
            return venues.listMembers(trx, venueId, { limit: take, after })
          }),
        (last) => ({ u: last.userId }),
      )
      return { data: rows, nextCursor }
    },

    async putMember(ctx: RequestContext, venueId: string, userId: string, role: Member['role']): Promise<Member> {
      return db.withTenant(ctx.principal.tenantId, async (trx) => {
        await writableVenue(trx, ctx, venueId, 'manage members of')
        const before = await venues.findMember(trx, venueId, userId)
        const member = await venues.upsertMember(trx, ctx.principal.tenantId, venueId, userId, role)
        await audit.record(trx, auditEvent(ctx, before ? 'venue.member.updated' : 'venue.member.added', 'venue_member', `${venueId}:${userId}`, before ?? undefined, member))
        return member
      })
    },

    async removeMember(ctx: RequestContext, venueId: string, userId: string): Promise<void> {
      await db.withTenant(ctx.principal.tenantId, async (trx) => {
        await writableVenue(trx, ctx, venueId, 'manage members of')
        const before = await venues.findMember(trx, venueId, userId)
        if (!before) throw new MemberNotFoundError()
        await venues.deleteMember(trx, venueId, userId)
        await audit.record(trx, auditEvent(ctx, 'venue.member.removed', 'venue_member', `${venueId}:${userId}`, before, undefined))
      })
    },

    /** For other services (internal route): the venue if it belongs to the tenant. */
    async getForService(tenantId: string, id: string): Promise<Venue | null> {
      return db.withTenant(tenantId, (trx) => venues.findById(trx, id))
    },
  }
}

export type VenueService = ReturnType<typeof createVenueService>
