// Data access for data-subject requests: the tombstones of erased people (this file owns
// subject_tombstones), and the search and redaction of one person's rows in the tables that hold
// provider data about people (records, webhook inbox, dead letters, sync logs). Knex and nothing
// else; every query runs inside withTenant, so row-level security keeps it to one tenant.
import type { Knex } from 'knex'
import { mentionBindings, mentionsSql } from '@hub/service-kit'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'

export interface TombstoneRow {
  kind: 'email' | 'external_id'
  key_version: number
  value_hash: string
}

export interface SubjectRecordRow {
  connection_id: string
  provider: string
  entity: string
  external_id: string
  venue_id: string
  data: unknown
  raw: unknown
  deleted_at: Date | null
}

export interface SubjectInboxRow {
  id: string
  connection_id: string
  provider: string
  event_type: string
  external_id: string | null
  payload: unknown
  last_error: string | null
}

export interface SubjectDeadLetterRow {
  id: string
  queue: string
  job_name: string
  payload: unknown
  error_message: string | null
}

export interface SubjectSyncLogRow {
  id: string
  error_message: string | null
}

/** A provider id linked to the person; `connectionId` null when the caller named it (any connection). */
export interface LinkedId {
  connectionId: string | null
  externalId: string
}

const idsJson = (ids: LinkedId[]): string => JSON.stringify(ids.map((id) => ({ connection_id: id.connectionId, external_id: id.externalId })))

/** Rows whose text mentions one of the emails as a whole address (email-mentions.ts). */
const MENTIONS = mentionsSql

export function createSubjectDataRepository() {
  return {
    /**
     * Every write of provider data (a sync batch, a stored webhook) loads the tenant's tombstones
     * under a shared lock held until it commits; an erase, once its tombstones are committed, takes
     * the lock exclusively and lets it go at once: a barrier that returns when every write that
     * may have loaded the tombstones before they existed has committed. Writes never wait on one
     * another. The lock and the read are one statement (`tombstones_for_write`, whose read takes its
     * snapshot after the lock is granted, as a second statement would).
     */
    async tombstonesForWrite(trx: Knex.Transaction, tenantId: string): Promise<TombstoneRow[]> {
      return ((await trx.raw('select kind, key_version, value_hash from integration.tombstones_for_write(?)', [tenantId])) as { rows: TombstoneRow[] }).rows
    },
    async awaitWritesInFlight(trx: Knex.Transaction, tenantId: string): Promise<void> {
      await trx.raw("select pg_advisory_xact_lock(hashtextextended('subject-data:' || ?, 0))", [tenantId])
    },

    /** Stores the tombstones (a repeated one is skipped); returns how many the request has in all. */
    async addTombstones(trx: Knex.Transaction, tenantId: string, requestId: string, rows: Array<Omit<TombstoneRow, never>>): Promise<number> {
      if (rows.length > 0) {
        await trx(INTEGRATION_TABLES.subjectTombstones)
          .insert(rows.map((row) => ({ tenant_id: tenantId, request_id: requestId, kind: row.kind, key_version: row.key_version, value_hash: row.value_hash })))
          .onConflict(['tenant_id', 'kind', 'key_version', 'value_hash'])
          .ignore()
      }
      const row = (await trx(INTEGRATION_TABLES.subjectTombstones).where({ request_id: requestId }).count<{ count: string }[]>('* as count'))[0]
      return Number(row?.count ?? 0)
    },

    /** The person's provider ids: the ones given, and those of customer and contact records that carry one of the emails. */
    async linkedIds(trx: Knex.Transaction, emails: string[], externalIds: string[]): Promise<LinkedId[]> {
      const found = (await trx.raw(
        `select distinct connection_id, external_id from integration.records
          where entity in ('customer', 'contact') and lower(data->>'email') = any(?::text[])`,
        [emails],
      )) as { rows: Array<{ connection_id: string; external_id: string }> }
      return [...externalIds.map((externalId) => ({ connectionId: null, externalId })), ...found.rows.map((row) => ({ connectionId: row.connection_id, externalId: row.external_id }))]
    },

    /** Records about the person: theirs (customer, contact), those that reference them, and any that mentions an email. */
    async findRecords(trx: Knex.Transaction, emails: string[], ids: LinkedId[]): Promise<SubjectRecordRow[]> {
      const result = (await trx.raw(
        `with ids as (select * from jsonb_to_recordset(?::jsonb) as i(connection_id uuid, external_id text))
         select r.connection_id, r.provider, r.entity, r.external_id, r.venue_id, r.data, r.raw, r.deleted_at
           from integration.records r
          where exists (
                  select 1 from ids
                   where (ids.connection_id is null or ids.connection_id = r.connection_id)
                     and ((r.entity in ('customer', 'contact') and r.external_id = ids.external_id) or r.data->>'customerExternalId' = ids.external_id)
                )
             or ${MENTIONS('r.data')} or ${MENTIONS('r.raw')}
          order by r.connection_id, r.entity, r.external_id`,
        [idsJson(ids), ...mentionBindings(emails), ...mentionBindings(emails)],
      )) as { rows: SubjectRecordRow[] }
      return result.rows
    },

    /** A redaction is a change like any other: the records feed hands it out (its position as in record-repository's listChanges). */
    async updateRecord(trx: Knex.Transaction, row: Pick<SubjectRecordRow, 'connection_id' | 'entity' | 'external_id'>, data: unknown, raw: unknown, contentHash: string): Promise<void> {
      await trx.raw(
        `update integration.records set data = ?::jsonb, raw = ?::jsonb, content_hash = ?, updated_at = now(), change_seq = nextval('integration.records_change_seq'),
                change_xid = pg_current_xact_id()
          where connection_id = ? and entity = ? and external_id = ?`,
        [JSON.stringify(data), JSON.stringify(raw), contentHash, row.connection_id, row.entity, row.external_id],
      )
    },

    /** Stored webhook events about the person: naming one of their ids, or mentioning an email. */
    async findInbox(trx: Knex.Transaction, emails: string[], ids: LinkedId[]): Promise<SubjectInboxRow[]> {
      const result = (await trx.raw(
        `with ids as (select * from jsonb_to_recordset(?::jsonb) as i(connection_id uuid, external_id text))
         select w.id, w.connection_id, w.provider, w.event_type, w.external_id, w.payload, w.last_error
           from integration.webhook_inbox w
          where exists (select 1 from ids where (ids.connection_id is null or ids.connection_id = w.connection_id) and ids.external_id = w.external_id)
             or ${MENTIONS('w.payload')} or ${MENTIONS('w.last_error')}
          order by w.received_at`,
        [idsJson(ids), ...mentionBindings(emails), ...mentionBindings(emails)],
      )) as { rows: SubjectInboxRow[] }
      return result.rows
    },

    async updateInbox(trx: Knex.Transaction, id: string, payload: unknown, lastError: string | null): Promise<void> {
      await trx(INTEGRATION_TABLES.webhookInbox)
        .where({ id })
        .update({ payload: JSON.stringify(payload), last_error: lastError })
    },

    async findDeadLetters(trx: Knex.Transaction, emails: string[]): Promise<SubjectDeadLetterRow[]> {
      const result = (await trx.raw(`select id, queue, job_name, payload, error_message from integration.dead_letters d where ${MENTIONS('d.payload')} or ${MENTIONS('d.error_message')} order by failed_at`, [
        ...mentionBindings(emails),
        ...mentionBindings(emails),
      ])) as {
        rows: SubjectDeadLetterRow[]
      }
      return result.rows
    },

    async updateDeadLetter(trx: Knex.Transaction, id: string, payload: unknown, errorMessage: string | null): Promise<void> {
      await trx(INTEGRATION_TABLES.deadLetters)
        .where({ id })
        .update({ payload: JSON.stringify(payload), error_message: errorMessage })
    },

    async findSyncLogs(trx: Knex.Transaction, emails: string[]): Promise<SubjectSyncLogRow[]> {
      const result = (await trx.raw(`select id, error_message from integration.sync_logs s where ${MENTIONS('s.error_message')} order by created_at`, mentionBindings(emails))) as { rows: SubjectSyncLogRow[] }
      return result.rows
    },

    async updateSyncLog(trx: Knex.Transaction, id: string, errorMessage: string | null): Promise<void> {
      await trx(INTEGRATION_TABLES.syncLogs).where({ id }).update({ error_message: errorMessage })
    },
  }
}

export type SubjectDataRepository = ReturnType<typeof createSubjectDataRepository>
