// Synced records: batch upserts keyed by (connection, entity, external id) that leave unchanged
// records untouched (the content hash is compared inside the upsert's WHERE), deletions reported
// by the provider, and the sweep that ends a full run by deleting what it did not see.
import type { Knex } from 'knex'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'

export interface RecordScope {
  tenantId: string
  venueId: string
  connectionId: string
  provider: ProviderName
  entity: EntityName
}

export interface RecordInput {
  externalId: string
  data: unknown
  raw: unknown
  hash: string
  /**
   * When this content was known to be current (ISO): the provider's event time, or when the page
   * or record was requested. A write never replaces a record stored with a later one.
   */
  version?: string | null
}

export interface UpsertCounts {
  created: number
  updated: number
  unchanged: number
}

/** The counts, and the provider ids of what was created and updated (the records.changed event). */
export type UpsertResult = UpsertCounts & { ids: { created: string[]; updated: string[] } }

const NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g
const CHANGED = 'r.content_hash is distinct from excluded.content_hash or r.deleted_at is not null'
/** The incoming content is not older than the stored one (rows of unknown version never block). */
const NOT_OLDER = '(r.source_version is null or excluded.source_version is null or excluded.source_version >= r.source_version)'
/**
 * One record by its full key, for a LATERAL join over a list of ids. The LIMIT keeps the planner
 * from flattening it into a scan of the connection's rows, which it does when the table's
 * statistics are stale (a table that grew fast during a first full run): one index probe per id.
 */
const BY_KEY = 'select content_hash, deleted_at, ctid as row_ctid from integration.records where connection_id = ? and entity = ? and external_id = i.external_id'

/** Drops the unchanged-id notes of every run of (connection, entity): at a run's end, and those left by a run that never finished. */
async function forgetSeen(trx: Knex.Transaction, scope: Pick<RecordScope, 'connectionId' | 'entity'>): Promise<void> {
  await trx.raw('delete from integration.sync_run_seen where connection_id = ? and entity = ?', [scope.connectionId, scope.entity])
}

/** The ids of the batch whose stored record has the same hash and is not deleted: only ids and hashes travel. */
async function unchangedIds(trx: Knex.Transaction, scope: Pick<RecordScope, 'connectionId' | 'entity'>, rows: RecordInput[]): Promise<string[]> {
  const same = (await trx.raw(
    `select i.external_id
       from unnest(?::text[], ?::text[]) as i(external_id, content_hash)
       cross join lateral (${BY_KEY} limit 1) r
      where r.content_hash = i.content_hash and r.deleted_at is null`,
    [rows.map((row) => row.externalId), rows.map((row) => row.hash), scope.connectionId, scope.entity],
  )) as { rows: Array<{ external_id: string }> }
  return same.rows.map((row) => row.external_id)
}

export function createRecordRepository() {
  return {
    /** Retention: deletes at most `limit` records of these (disconnected) connections; returns how many went. */
    async purgeBatch(trx: Knex.Transaction, connectionIds: string[], limit: number): Promise<number> {
      if (connectionIds.length === 0) return 0
      const result = await trx.raw(`delete from integration.records where ctid = any(array(select ctid from integration.records where connection_id = any(?::uuid[]) limit ?))`, [connectionIds, limit])
      return (result as { rowCount: number }).rowCount
    },

    /**
     * Writes a batch in two statements whatever its size (one for a single record outside a full
     * run). The first sends only ids and hashes:
     * records whose stored hash matches are unchanged and are not touched; in a full run
     * (`seenBy`, its sync log id) their ids are noted in one sync_run_seen row, so the closing
     * sweep spares them. Only the rest travel with their content, in one upsert that still
     * compares hashes in its WHERE (a webhook may have written the same content in between) and
     * stamps what it writes as seen by the run.
     */
    async upsertBatch(trx: Knex.Transaction, scope: RecordScope, input: RecordInput[], seenBy: string | null): Promise<UpsertResult> {
      // One statement may not touch a row twice: the last version of an id in the batch wins.
      const byId = new Map<string, RecordInput>()
      for (const record of input) byId.set(record.externalId, record)
      const rows = [...byId.values()]
      if (rows.length === 0) return { created: 0, updated: 0, unchanged: 0, ids: { created: [], updated: [] } }

      // A single record outside a full run (a webhook's) skips the first statement: the upsert
      // compares the hashes too, and one record's content costs less to send than a round trip.
      const same = rows.length === 1 && !seenBy ? [] : await unchangedIds(trx, scope, rows)
      if (seenBy && same.length > 0) {
        await trx.raw('insert into integration.sync_run_seen (sync_log_id, tenant_id, connection_id, entity, external_ids) values (?::uuid, ?::uuid, ?::uuid, ?, ?::text[])', [seenBy, scope.tenantId, scope.connectionId, scope.entity, same])
      }
      const unchanged = new Set(same)
      const counts: UpsertResult = { created: 0, updated: 0, unchanged: unchanged.size, ids: { created: [], updated: [] } }
      const toWrite = unchanged.size === 0 ? rows : rows.filter((row) => !unchanged.has(row.externalId))
      if (toWrite.length === 0) return counts

      // Postgres jsonb refuses \u0000: such characters are dropped rather than failing the batch
      // (an escaped backslash before "u0000" is text, not a NUL, and stays).
      let payload = JSON.stringify(toWrite.map((row) => ({ external_id: row.externalId, data: row.data, raw: row.raw, content_hash: row.hash, source_version: row.version ?? null })))
      if (payload.includes('\\u0000')) payload = payload.replace(NUL_ESCAPE, '$1')
      // updated_at is now() exactly when the row was inserted or its content changed (now() is
      // this transaction's start, later than any earlier write); a row only stamped as seen
      // keeps its old one and counts as unchanged. A row stored with a later version than the
      // incoming one (a webhook delivered late, a page fetched before an event was applied) is
      // left as it is: it answers nothing here and counts as unchanged. A change takes its place
      // in the public feed: a change_seq and this transaction's id (change_xid), as every write
      // that takes a change_seq does (see listChanges).
      const written = (await trx.raw(
        `insert into integration.records as r
           (connection_id, entity, external_id, tenant_id, venue_id, provider, data, raw, content_hash, last_seen_sync_log_id, source_version)
         select ?::uuid, ?, u.external_id, ?::uuid, ?::uuid, ?, u.data, u.raw, u.content_hash, ?::uuid, u.source_version
           from jsonb_to_recordset(?::jsonb) as u(external_id text, data jsonb, raw jsonb, content_hash text, source_version timestamptz)
         on conflict (connection_id, entity, external_id) do update set
           data = excluded.data,
           raw = excluded.raw,
           content_hash = excluded.content_hash,
           deleted_at = null,
           last_seen_sync_log_id = coalesce(excluded.last_seen_sync_log_id, r.last_seen_sync_log_id),
           updated_at = case when ${CHANGED} then now() else r.updated_at end,
           change_seq = case when ${CHANGED} then nextval('integration.records_change_seq') else r.change_seq end,
           change_xid = case when ${CHANGED} then pg_current_xact_id() else r.change_xid end,
           source_version = coalesce(excluded.source_version, r.source_version)
         where ${NOT_OLDER}
           and (${CHANGED}
            or (excluded.last_seen_sync_log_id is not null and r.last_seen_sync_log_id is distinct from excluded.last_seen_sync_log_id))
         returning r.external_id, (r.xmax = 0) as inserted, (r.updated_at = now()) as changed`,
        [scope.connectionId, scope.entity, scope.tenantId, scope.venueId, scope.provider, seenBy, payload],
      )) as { rows: Array<{ external_id: string; inserted: boolean; changed: boolean }> }
      for (const row of written.rows) {
        if (row.inserted) {
          counts.created++
          counts.ids.created.push(row.external_id)
        } else if (row.changed) {
          counts.updated++
          counts.ids.updated.push(row.external_id)
        }
      }
      counts.unchanged += toWrite.length - counts.created - counts.updated
      if (seenBy && written.rows.length < toWrite.length) {
        // Left alone because the stored record is newer: still there at the provider, so seen.
        const answered = new Set(written.rows.map((row) => row.external_id))
        const kept = toWrite.filter((row) => !answered.has(row.externalId)).map((row) => row.externalId)
        await trx.raw('insert into integration.sync_run_seen (sync_log_id, tenant_id, connection_id, entity, external_ids) values (?::uuid, ?::uuid, ?::uuid, ?, ?::text[])', [seenBy, scope.tenantId, scope.connectionId, scope.entity, kept])
      }
      return counts
    },

    /**
     * Marks records the provider reports deleted; returns the ids of those that were live. With a
     * `version` (when the deletion was known), a record stored with a later one is left alone.
     */
    async markDeleted(trx: Knex.Transaction, scope: Pick<RecordScope, 'connectionId' | 'entity'>, externalIds: string[], version: string | null = null): Promise<string[]> {
      if (externalIds.length === 0) return []
      const result = (await trx.raw(
        `update integration.records set deleted_at = now(), updated_at = now(), change_seq = nextval('integration.records_change_seq'), change_xid = pg_current_xact_id(),
                source_version = coalesce(?::timestamptz, source_version)
          where ctid = any(array(select r.row_ctid from unnest(?::text[]) as i(external_id) cross join lateral (${BY_KEY} limit 1) r))
            and connection_id = ? and entity = ? and deleted_at is null
            and (source_version is null or ?::timestamptz is null or source_version <= ?::timestamptz)
          returning external_id`,
        [version, [...new Set(externalIds)], scope.connectionId, scope.entity, scope.connectionId, scope.entity, version, version],
      )) as { rows: Array<{ external_id: string }> }
      return result.rows.map((row) => row.external_id)
    },

    /**
     * Ends a full run: live records it did not see are deleted. Seen means written by the run
     * (stamped) or noted unchanged (sync_run_seen). Records written since the run started (a
     * webhook meanwhile) are spared; the next run judges them. The run's notes are dropped.
     * A swept record's version becomes the run's start (the listing that missed it came after),
     * so an older event delivered late cannot bring it back.
     */
    async sweepUnseen(trx: Knex.Transaction, scope: Pick<RecordScope, 'connectionId' | 'entity'>, syncLogId: string, runStartedAt: Date): Promise<string[]> {
      // The planner, misled by statistics that lag a table that just grew, otherwise picks a nested
      // loop over the seen ids for every record: quadratic (minutes at 30,000 records, measured).
      // An anti-join by hash (or merge) is right at any size; only this statement is affected.
      await trx.raw('set local enable_nestloop = off')
      const result = (await trx.raw(
        `with seen as materialized (
           select unnest(external_ids) as external_id from integration.sync_run_seen where connection_id = ? and entity = ? and sync_log_id = ?::uuid
         )
         update integration.records r set deleted_at = now(), updated_at = now(), change_seq = nextval('integration.records_change_seq'), change_xid = pg_current_xact_id(),
                source_version = greatest(r.source_version, ?::timestamptz)
          where r.connection_id = ? and r.entity = ? and r.deleted_at is null
            and r.last_seen_sync_log_id is distinct from ?::uuid and r.updated_at < ?::timestamptz
            and not exists (select 1 from seen where seen.external_id = r.external_id)
          returning r.external_id`,
        [scope.connectionId, scope.entity, syncLogId, runStartedAt, scope.connectionId, scope.entity, syncLogId, runStartedAt],
      )) as { rows: Array<{ external_id: string }> }
      await trx.raw('set local enable_nestloop = on')
      await forgetSeen(trx, scope)
      return result.rows.map((row) => row.external_id)
    },

    forgetSeen,

    async countLive(trx: Knex.Transaction, scope: Pick<RecordScope, 'connectionId' | 'entity'>): Promise<number> {
      const row = (await trx('integration.records').where({ connection_id: scope.connectionId, entity: scope.entity }).whereNull('deleted_at').count<{ count: string }[]>('* as count'))[0]
      return Number(row?.count ?? 0)
    },

    /** The Mailchimp audience most of a connection's live contacts belong to (a push's default). */
    async contactAudience(trx: Knex.Transaction, connectionId: string): Promise<unknown> {
      const row = (await trx('integration.records')
        .select(trx.raw("data->>'listId' as list_id"))
        .count('* as members')
        .where({ connection_id: connectionId, entity: 'contact' })
        .whereNull('deleted_at')
        .groupByRaw("data->>'listId'")
        .orderBy('members', 'desc')
        .first()) as { list_id?: unknown } | undefined
      return row?.list_id
    },

    /**
     * A venue's records changed after `after`, deletions included, in change order (the public
     * feed): by (change_xid, change_seq), the writing transaction's id and the change's sequence
     * number. Sequence numbers are taken in statement order but become visible in commit order, so
     * only rows whose transaction is older than every transaction still running are handed out: a
     * transaction that commits late can never land behind a position a reader has already passed
     * (it waits, instead, until the older ones have finished).
     */
    async listChanges(trx: Knex.Transaction, filter: RecordChangeFilter): Promise<RecordChangeRow[]> {
      const q = trx('integration.records')
        .select('connection_id', 'provider', 'entity', 'external_id', 'data', 'deleted_at', 'updated_at', trx.raw('change_xid::text as change_xid_text'), trx.raw('change_seq::text as change_seq_text'), ...(filter.includeRaw ? ['raw'] : []))
        .where('venue_id', filter.venueId)
      if (filter.provider) q.where('provider', filter.provider)
      if (filter.entity) q.where('entity', filter.entity)
      q.whereRaw('change_xid < pg_snapshot_xmin(pg_current_snapshot())').whereRaw('(change_xid, change_seq) > (?::xid8, ?::bigint)', [filter.after.xid, filter.after.seq])
      // Order by the columns themselves (their text forms would sort 10 before 2).
      return (await q.orderBy([{ column: 'change_xid' }, { column: 'change_seq' }]).limit(filter.limit)) as RecordChangeRow[]
    },
  }
}

export interface RecordChangeFilter {
  venueId: string
  provider?: string | undefined
  entity?: string | undefined
  /** The position to read after: a transaction id (xid8) and a change_seq, as decimal text. */
  after: RecordFeedPosition
  includeRaw?: boolean | undefined
  limit: number
}

export interface RecordChangeRow {
  connection_id: string
  provider: string
  entity: string
  external_id: string
  data: unknown
  raw?: unknown
  deleted_at: Date | null
  updated_at: Date
  change_xid_text: string
  change_seq_text: string
}

export interface RecordFeedPosition {
  xid: string
  seq: string
}

export type RecordRepository = ReturnType<typeof createRecordRepository>
