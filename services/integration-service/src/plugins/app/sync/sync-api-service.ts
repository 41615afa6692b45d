// What the public sync API does on top of the engine: find the venue's connection, check the
// caller may act on that venue, and read records, sync logs and field mappings for the tenant.
import { Type } from '@sinclair/typebox'
import { BadRequestError, ConflictError, NotFoundError, type SyncLog } from '@hub/contracts'
import { auditActor, canReadVenue, CursorField, encodeCursor, hasRole, page, readCursor, type AuditOutbox, type Database, type RequestContext } from '@hub/service-kit'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { SyncEngine } from '../sync/index.ts'
import type { FieldMappingInput, FieldMappingList, RecordList, RecordPage, SyncLogList, SyncRequest } from '../../../schemas/sync.ts'
import { assertVenueAccess } from '../connections/venue-access.ts'
import type { SyncLogRepository } from '../sync-logs/sync-log-repository.ts'
import type { FieldMappingRepository, FieldMappingRow } from './field-mapping-repository.ts'
import type { RecordChangeRow, RecordFeedPosition, RecordRepository } from './record-repository.ts'

/**
 * A position in the records feed: after the change written by transaction `x` (an xid8) with
 * change_seq `s`, both as decimal text. An xid8 is unsigned but never reaches 2^63 (its epoch
 * would have to), so the int64 check takes every position the feed can issue and keeps any other
 * value, out of range or not a number, a 400 rather than a database error.
 */
const FeedCursor = Type.Object({ x: CursorField.int64(), s: CursorField.int64() }, { additionalProperties: false })
/**
 * A cursor issued before the feed paged by transaction (clients may hold one): `{ s }` stood for
 * "change_seq after s" and now reads as (x = 1, s). The rows written before the change all carry
 * change_xid 1, so the ones after s among them still come in change_seq order, and every row
 * written since has a real, larger xid and comes after them, whatever its change_seq: a superset
 * of what the cursor meant before (some later changes may come twice), never less.
 */
const LegacySeqCursor = Type.Object({ s: CursorField.int64() }, { additionalProperties: false })
const RecordCursor = Type.Union([FeedCursor, LegacySeqCursor])
const FEED_START: RecordFeedPosition = { xid: '0', seq: '0' }
const LEGACY_XID = '1'

function readRecordCursor(cursor: string | undefined): RecordFeedPosition {
  if (!cursor) return FEED_START
  const value = readCursor(cursor, RecordCursor)
  return { xid: 'x' in value ? value.x : LEGACY_XID, seq: value.s }
}

const encodeRecordCursor = (position: RecordFeedPosition): string => encodeCursor({ x: position.xid, s: position.seq })
const MappingCursor = Type.Object({ p: Type.String({ pattern: '^[a-z_]{1,40}$' }), e: Type.String({ pattern: '^[a-z_]{1,40}$' }), t: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$' }) })
const LogCursor = Type.Object({ c: CursorField.timestamp(), i: CursorField.uuid() })

const toFieldMapping = (row: FieldMappingRow) => ({
  id: row.id,
  provider: row.provider,
  entity: row.entity,
  sourcePath: row.source_path,
  targetField: row.target_field,
  transform: row.transform,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
})

export function createSyncApiService(deps: {
  db: Pick<Database, 'withTenant'>
  connections: ConnectionRepository
  syncLogs: Pick<SyncLogRepository, 'list'>
  records: Pick<RecordRepository, 'listChanges'>
  fieldMappings: FieldMappingRepository
  engine: Pick<SyncEngine, 'enqueueSync'>
  audit: AuditOutbox
}) {
  const { db, connections, engine, audit, fieldMappings } = deps

  /** Full re-syncs after a mapping change, for every live connection of that provider. */
  async function resyncAfterMappingChange(ctx: RequestContext, provider: ProviderName, entity: EntityName): Promise<void> {
    const tenantId = ctx.principal.tenantId
    const live = await db.withTenant(tenantId, (trx) => connections.listActiveOfProvider(trx, provider))
    for (const row of live) {
      try {
        await engine.enqueueSync({ tenantId, venueId: row.venue_id, connectionId: row.id, entities: [entity], mode: 'full', trigger: 'manual', queue: 'high', actor: auditActor(ctx) })
      } catch (error) {
        // A run already queued or running will notice the new mapping version and go full itself.
        if (!(error instanceof ConflictError) && !(error instanceof BadRequestError)) throw error
      }
    }
  }

  return {
    async requestSync(ctx: RequestContext, provider: ProviderName, body: SyncRequest) {
      const principal = ctx.principal
      const venueId = body.venueId.toLowerCase()
      assertVenueAccess(principal, venueId, 'manage', () => new NotFoundError('CONNECTION_NOT_FOUND', `This venue has no ${provider} connection.`))
      const connection = await db.withTenant(principal.tenantId, (trx) => connections.findLive(trx, venueId, provider))
      if (!connection) throw new NotFoundError('CONNECTION_NOT_FOUND', `This venue has no ${provider} connection.`)
      const { jobs } = await engine.enqueueSync({
        tenantId: principal.tenantId,
        venueId,
        connectionId: connection.id,
        ...(body.entities ? { entities: body.entities } : {}),
        mode: body.mode ?? 'incremental',
        trigger: 'manual',
        queue: 'high',
        actor: auditActor(ctx),
      })
      return { connectionId: connection.id, jobs: jobs.map((job) => ({ entity: job.entity, jobId: job.jobId, syncLogId: job.syncLogId, queue: job.queue })) }
    },

    async listSyncLogs(ctx: RequestContext, query: SyncLogList): Promise<{ data: SyncLog[]; nextCursor: string | null }> {
      const principal = ctx.principal
      if (query.venueId && !canReadVenue(principal, query.venueId)) return { data: [], nextCursor: null }
      const after = query.cursor ? readCursor(query.cursor, LogCursor) : undefined
      const { rows, nextCursor } = await page(
        query.limit,
        (take) =>
          db.withTenant(principal.tenantId, (trx) =>
            deps.syncLogs.list(trx, {
              venueId: query.venueId,
              venueIds: !hasRole(principal, 'admin') && principal.venueIds ? principal.venueIds : undefined,
              connectionId: query.connectionId,
              provider: query.provider,
              entity: query.entity,
              status: query.status,
              before: after ? { createdAt: after.c, id: after.i } : undefined,
              limit: take,
            }),
          ),
        (last) => ({ c: last.createdAt, i: last.id }),
      )
      return { data: rows, nextCursor }
    },

    /**
     * One page of the venue's changes after the cursor. `nextCursor` is null on the last page, as
     * in every list; `resumeCursor` is where to read from next time either way: after the last row
     * returned, or the request's own position when there was none (a client polling for changes).
     */
    async listRecords(ctx: RequestContext, query: RecordList): Promise<RecordPage> {
      const principal = ctx.principal
      const venueId = query.venueId.toLowerCase()
      const after = readRecordCursor(query.cursor)
      if (!canReadVenue(principal, venueId)) return { data: [], nextCursor: null, resumeCursor: encodeRecordCursor(after) }
      const position = (row: RecordChangeRow): RecordFeedPosition => ({ xid: row.change_xid_text, seq: row.change_seq_text })
      const { rows, nextCursor } = await page(
        query.limit,
        (take) => db.withTenant(principal.tenantId, (trx) => deps.records.listChanges(trx, { venueId, provider: query.provider, entity: query.entity, after, includeRaw: query.includeRaw, limit: take })),
        (last) => ({ x: last.change_xid_text, s: last.change_seq_text }),
      )
      const last = rows.at(-1)
      return {
        data: rows.map((row) => ({
          connectionId: row.connection_id,
          provider: row.provider,
          entity: row.entity,
          externalId: row.external_id,
          data: row.data,
          ...(query.includeRaw ? { raw: row.raw } : {}),
          deleted: row.deleted_at !== null,
          deletedAt: row.deleted_at ? row.deleted_at.toISOString() : null,
          updatedAt: row.updated_at.toISOString(),
        })),
        nextCursor,
        resumeCursor: encodeRecordCursor(last ? position(last) : after),
      }
    },

    async listFieldMappings(ctx: RequestContext, query: FieldMappingList) {
      const after = query.cursor ? readCursor(query.cursor, MappingCursor) : undefined
      const { rows, nextCursor } = await page(
        query.limit,
        (take) =>
          db.withTenant(ctx.principal.tenantId, (trx) => fieldMappings.list(trx, { provider: query.provider, entity: query.entity, after: after ? { provider: after.p, entity: after.e, targetField: after.t } : undefined, limit: take })),
        (last) => ({ p: last.provider, e: last.entity, t: last.target_field }),
      )
      return { data: rows.map(toFieldMapping), nextCursor }
    },

    async createFieldMapping(ctx: RequestContext, input: FieldMappingInput) {
      const actor = auditActor(ctx)
      try {
        const created = await db.withTenant(actor.tenantId, async (trx) => {
          const row = await fieldMappings.insert(trx, { tenant_id: actor.tenantId, provider: input.provider, entity: input.entity, source_path: input.sourcePath, target_field: input.targetField, transform: input.transform ?? 'none' })
          const mapping = toFieldMapping(row)
          await audit.record(trx, { ...actor, action: 'field_mapping.created', entityType: 'field_mapping', entityId: mapping.id, after: mapping })
          return mapping
        })
        await resyncAfterMappingChange(ctx, input.provider, input.entity)
        return created
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw new ConflictError('FIELD_MAPPING_EXISTS', `A mapping to "${input.targetField}" already exists for ${input.provider} ${input.entity}.`)
        throw error
      }
    },

    async updateFieldMapping(ctx: RequestContext, id: string, patch: { sourcePath?: string | undefined; transform?: string | undefined }) {
      const actor = auditActor(ctx)
      const updated = await db.withTenant(actor.tenantId, async (trx) => {
        const before = await fieldMappings.findById(trx, id)
        if (!before) throw new NotFoundError('FIELD_MAPPING_NOT_FOUND', 'No field mapping with this id.')
        const mapping = toFieldMapping(await fieldMappings.update(trx, id, patch))
        await audit.record(trx, { ...actor, action: 'field_mapping.updated', entityType: 'field_mapping', entityId: id, before: toFieldMapping(before), after: mapping })
        return mapping
      })
      await resyncAfterMappingChange(ctx, updated.provider as ProviderName, updated.entity as EntityName)
      return updated
    },

    async deleteFieldMapping(ctx: RequestContext, id: string) {
      const actor = auditActor(ctx)
      const removed = await db.withTenant(actor.tenantId, async (trx) => {
        const before = await fieldMappings.findById(trx, id)
        if (!before) throw new NotFoundError('FIELD_MAPPING_NOT_FOUND', 'No field mapping with this id.')
        await fieldMappings.delete(trx, id)
        await audit.record(trx, { ...actor, action: 'field_mapping.deleted', entityType: 'field_mapping', entityId: id, before: toFieldMapping(before) })
        return before
      })
      await resyncAfterMappingChange(ctx, removed.provider as ProviderName, removed.entity as EntityName)
    },
  }
}

export type SyncApiService = ReturnType<typeof createSyncApiService>
