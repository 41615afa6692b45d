// Where each (connection, entity) stands: the cursor the next incremental run starts from, and
// the checkpoint of the run in progress (so a killed worker's successor resumes it).
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { EntityName } from '../../../providers/canonical.ts'

export interface SyncStateRow {
  connection_id: string
  entity: EntityName
  tenant_id: string
  cursor: string | null
  run_sync_log_id: string | null
  run_cursor: string | null
  run_started_at: Date | null
  mapping_version: number
  last_full_sync_at: Date | null
  last_success_at: Date | null
  updated_at: Date
}

const table = (trx: Knex.Transaction) => trx<SyncStateRow>(INTEGRATION_TABLES.syncState)

export function createSyncStateRepository() {
  return {
    /** The state row, created on first use; locked for the rest of the transaction. */
    async lock(trx: Knex.Transaction, key: { tenantId: string; connectionId: string; entity: EntityName }): Promise<SyncStateRow> {
      await table(trx).insert({ tenant_id: key.tenantId, connection_id: key.connectionId, entity: key.entity }).onConflict(['connection_id', 'entity']).ignore()
      return (await table(trx).where({ connection_id: key.connectionId, entity: key.entity }).forUpdate().first()) as SyncStateRow
    },

    async find(trx: Knex.Transaction, connectionId: string, entity: EntityName): Promise<SyncStateRow | null> {
      return ((await table(trx).where({ connection_id: connectionId, entity }).first()) as SyncStateRow | undefined) ?? null
    },

    async startRun(trx: Knex.Transaction, connectionId: string, entity: EntityName, syncLogId: string): Promise<SyncStateRow> {
      const [row] = await table(trx).where({ connection_id: connectionId, entity }).update({ run_sync_log_id: syncLogId, run_cursor: null, run_started_at: trx.fn.now(), updated_at: trx.fn.now() }).returning('*')
      return row as SyncStateRow
    },

    /**
     * The fence of a run's write: locks the state row and says where the run in progress stands.
     * Two workers can hold one run for a moment (Redis emptied under a live worker and the run
     * re-enqueued): each write checks the row still names its run at the checkpoint it started
     * from, so the first to write a page wins and the other backs off — no page is written or
     * counted twice.
     */
    async position(trx: Knex.Transaction, connectionId: string, entity: EntityName): Promise<{ syncLogId: string | null; runCursor: string | null } | null> {
      const row = (await table(trx).select('run_sync_log_id', 'run_cursor').where({ connection_id: connectionId, entity }).forUpdate().first()) as Pick<SyncStateRow, 'run_sync_log_id' | 'run_cursor'> | undefined
      return row ? { syncLogId: row.run_sync_log_id, runCursor: row.run_cursor } : null
    },

    async checkpoint(trx: Knex.Transaction, connectionId: string, entity: EntityName, syncLogId: string, cursor: string): Promise<void> {
      await table(trx).where({ connection_id: connectionId, entity, run_sync_log_id: syncLogId }).update({ run_cursor: cursor, updated_at: trx.fn.now() })
    },

    async finishRun(trx: Knex.Transaction, connectionId: string, entity: EntityName, outcome: { cursor: string | null; mappingVersion: number; full: boolean }): Promise<void> {
      const patch: Record<string, unknown> = {
        cursor: outcome.cursor,
        run_sync_log_id: null,
        run_cursor: null,
        run_started_at: null,
        mapping_version: outcome.mappingVersion,
        last_success_at: trx.fn.now(),
        updated_at: trx.fn.now(),
      }
      if (outcome.full) patch.last_full_sync_at = trx.fn.now()
      await table(trx).where({ connection_id: connectionId, entity }).update(patch)
    },
  }
}

export type SyncStateRepository = ReturnType<typeof createSyncStateRepository>
