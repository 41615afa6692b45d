// What the public sync API does on top of the engine: find the venue's connection, check the
// caller may act on that venue, and read records, sync logs and field mappings for the tenant.
import { Type } from '@sinclair/typebox'
import { BadRequestError, ConflictError, NotFoundError, type SyncLog } from '@hub/contracts'
import { auditActor, canReadVenue, CursorField, encodeCursor, hasRole, readCursor, type AuditOutbox, type Database, type RequestContext } from '@hub/service-kit'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { SyncEngine } from '../sync/index.ts'
import type { FieldMappingInput, FieldMappingList, RecordList, SyncLogList, SyncRequest } from '../../../schemas/sync.ts'
import { assertVenueAccess } from '../connections/venue-access.ts'
import { toSyncLog } from '../sync-log-repository.ts'

const SeqCursor = Type.Object({ s: CursorField.int64() })
const MappingCursor = Type.Object({ p: Type.String({ pattern: '^[a-z_]{1,40}$' }), e: Type.String({ pattern: '^[a-z_]{1,40}$' }), t: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$' }) })
const LogCursor = Type.Object({ c: CursorField.timestamp(), i: CursorField.uuid() })

interface FieldMappingRow {
  id: string
  tenant_id: string
  provider: string
  entity: string
  source_path: string
  target_field: string
  transform: string
  created_at: Date
  updated_at: Date
}

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

export function createSyncApiService(deps: { db: Pick<Database, 'withTenant'>; connections: ConnectionRepository; engine: Pick<SyncEngine, 'enqueueSync'>; audit: AuditOutbox }) {
  const { db, connections, engine, audit } = deps

  /** Full re-syncs after a mapping change, for every live connection of that provider. */
  async function resyncAfterMappingChange(ctx: RequestContext, provider: ProviderName, entity: EntityName): Promise<void> {
    const tenantId = ctx.principal.tenantId
    const live = await db.withTenant(tenantId, (trx) => trx('integration.connections').select('id', 'venue_id').where({ provider, status: 'active' }))
    for (const row of live as Array<{ id: string; venue_id: string }>) {
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
      const rows = await db.withTenant(principal.tenantId, (trx) => {
        const q = trx('integration.sync_logs').select('*')
        if (query.venueId) q.where('venue_id', query.venueId)
        else if (!hasRole(principal, 'admin') && principal.venueIds) q.whereIn('venue_id', principal.venueIds)
        if (query.connectionId) q.where('connection_id', query.connectionId)
        if (query.provider) q.where('provider', query.provider)
        if (query.entity) q.where('entity', query.entity)
        if (query.status) q.where('status', query.status)
        if (after) q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [after.c, after.i])
        return q.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(query.limit + 1)
      })
      const page = rows.slice(0, query.limit).map(toSyncLog)
      const last = page.at(-1)
      return { data: page, nextCursor: rows.length > query.limit && last ? encodeCursor({ c: last.createdAt, i: last.id }) : null }
    },

    async listRecords(ctx: RequestContext, query: RecordList) {
      const principal = ctx.principal
      const venueId = query.venueId.toLowerCase()
      const after = query.cursor ? readCursor(query.cursor, SeqCursor) : { s: '0' }
      if (!canReadVenue(principal, venueId)) return { data: [], nextCursor: null }
      const rows = await db.withTenant(principal.tenantId, (trx) => {
        const q = trx('integration.records').select('connection_id', 'provider', 'entity', 'external_id', 'data', 'deleted_at', 'updated_at', trx.raw('change_seq::text as change_seq_text'), ...(query.includeRaw ? ['raw'] : [])).where('venue_id', venueId)
        if (query.provider) q.where('provider', query.provider)
        if (query.entity) q.where('entity', query.entity)
        // Order by the bigint column itself (its text form would sort 10 before 2).
        return q.where('integration.records.change_seq', '>', after.s).orderBy('integration.records.change_seq').limit(query.limit + 1)
      })
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        data: page.map((row) => ({
          connectionId: row.connection_id,
          provider: row.provider,
          entity: row.entity,
          externalId: row.external_id,
          data: row.data,
          ...(query.includeRaw ? { raw: row.raw } : {}),
          deleted: row.deleted_at !== null,
          deletedAt: row.deleted_at ? (row.deleted_at as Date).toISOString() : null,
          updatedAt: (row.updated_at as Date).toISOString(),
        })),
        nextCursor: rows.length > query.limit && last ? encodeCursor({ s: String(last.change_seq_text) }) : null,
      }
    },

    async listFieldMappings(ctx: RequestContext, query: FieldMappingList) {
      const after = query.cursor ? readCursor(query.cursor, MappingCursor) : undefined
      const rows = await db.withTenant(ctx.principal.tenantId, (trx) => {
        const q = trx<FieldMappingRow>('integration.field_mappings').select('*')
        if (query.provider) q.where('provider', query.provider)
        if (query.entity) q.where('entity', query.entity)
        // (provider, entity, target_field) is unique per tenant: a total order for keyset paging.
        if (after) q.whereRaw('(provider, entity, target_field) > (?, ?, ?)', [after.p, after.e, after.t])
        return q.orderBy(['provider', 'entity', 'target_field']).limit(query.limit + 1)
      })
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return { data: page.map(toFieldMapping), nextCursor: rows.length > query.limit && last ? encodeCursor({ p: last.provider, e: last.entity, t: last.target_field }) : null }
    },

    async createFieldMapping(ctx: RequestContext, input: FieldMappingInput) {
      const actor = auditActor(ctx)
      try {
        const created = await db.withTenant(actor.tenantId, async (trx) => {
          const [row] = await trx<FieldMappingRow>('integration.field_mappings')
            .insert({ tenant_id: actor.tenantId, provider: input.provider, entity: input.entity, source_path: input.sourcePath, target_field: input.targetField, transform: input.transform ?? 'none' })
            .returning('*')
          const mapping = toFieldMapping(row as FieldMappingRow)
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
        const before = await trx<FieldMappingRow>('integration.field_mappings').where({ id }).first()
        if (!before) throw new NotFoundError('FIELD_MAPPING_NOT_FOUND', 'No field mapping with this id.')
        const [row] = await trx<FieldMappingRow>('integration.field_mappings')
          .where({ id })
          .update({ ...(patch.sourcePath ? { source_path: patch.sourcePath } : {}), ...(patch.transform ? { transform: patch.transform } : {}), updated_at: trx.fn.now() })
          .returning('*')
        const mapping = toFieldMapping(row as FieldMappingRow)
        await audit.record(trx, { ...actor, action: 'field_mapping.updated', entityType: 'field_mapping', entityId: id, before: toFieldMapping(before), after: mapping })
        return mapping
      })
      await resyncAfterMappingChange(ctx, updated.provider as ProviderName, updated.entity as EntityName)
      return updated
    },

    async deleteFieldMapping(ctx: RequestContext, id: string) {
      const actor = auditActor(ctx)
      const removed = await db.withTenant(actor.tenantId, async (trx) => {
        const before = await trx<FieldMappingRow>('integration.field_mappings').where({ id }).first()
        if (!before) throw new NotFoundError('FIELD_MAPPING_NOT_FOUND', 'No field mapping with this id.')
        await trx('integration.field_mappings').where({ id }).delete()
        await audit.record(trx, { ...actor, action: 'field_mapping.deleted', entityType: 'field_mapping', entityId: id, before: toFieldMapping(before) })
        return before
      })
      await resyncAfterMappingChange(ctx, removed.provider as ProviderName, removed.entity as EntityName)
    },
  }
}

export type SyncApiService = ReturnType<typeof createSyncApiService>
