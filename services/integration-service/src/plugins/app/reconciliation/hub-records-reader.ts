// What reconciliation reads of the hub's synced records (integration.records, owned by the sync's
// record repository; listed as a reader in docs/architecture.md): stored hashes by id, the live
// records a full run did not see at the provider, and counts and money totals. Writes (repairs)
// go through the sync's own record repository.
import type { Knex } from 'knex'
import type { EntityName } from '../../../providers/canonical.ts'
import { bucketSql } from './reconciliation-money.ts'
import type { Totals } from './reconciliation-run-repository.ts'

export interface HubRecordState {
  external_id: string
  content_hash: string
  deleted_at: Date | null
  updated_at: Date
  data: unknown
}

export interface Period {
  from: Date | null
  to: Date | null
}

function periodSql(period: Period): { sql: string; bindings: Date[] } {
  const parts: string[] = []
  const bindings: Date[] = []
  // Same rule as inPeriod(): a record's createdAt, and none without one.
  if (period.from) {
    parts.push(`(r.data->>'createdAt') is not null and (r.data->>'createdAt')::timestamptz >= ?::timestamptz`)
    bindings.push(period.from)
  }
  if (period.to) {
    parts.push(`(r.data->>'createdAt') is not null and (r.data->>'createdAt')::timestamptz < ?::timestamptz`)
    bindings.push(period.to)
  }
  return { sql: parts.length ? ` and ${parts.join(' and ')}` : '', bindings }
}

export function createHubRecordsReader() {
  return {
    async byIds(trx: Knex.Transaction, scope: { connectionId: string; entity: EntityName }, externalIds: string[]): Promise<Map<string, HubRecordState>> {
      if (externalIds.length === 0) return new Map()
      const result = (await trx.raw(
        `select r.external_id, r.content_hash, r.deleted_at, r.updated_at, r.data
           from unnest(?::text[]) as i(external_id)
           join integration.records r on r.connection_id = ? and r.entity = ? and r.external_id = i.external_id`,
        [externalIds, scope.connectionId, scope.entity],
      )) as { rows: HubRecordState[] }
      return new Map(result.rows.map((row) => [row.external_id, row]))
    },

    /**
     * Live records the run did not see at the provider. Records written since the run started
     * (a webhook meanwhile) are left for the next run to judge, as the sync's sweep does.
     */
    async unseenLive(trx: Knex.Transaction, scope: { connectionId: string; entity: EntityName; runId: string; startedAt: Date; period: Period }): Promise<Array<{ external_id: string; content_hash: string }>> {
      await trx.raw('set local enable_nestloop = off')
      const period = periodSql(scope.period)
      const result = (await trx.raw(
        `with seen as materialized (
           select unnest(external_ids) as external_id from integration.reconciliation_seen where run_id = ?::uuid
         )
         select r.external_id, r.content_hash from integration.records r
          where r.connection_id = ? and r.entity = ? and r.deleted_at is null and r.updated_at < ?::timestamptz${period.sql}
            and not exists (select 1 from seen where seen.external_id = r.external_id)
          order by r.external_id`,
        [scope.runId, scope.connectionId, scope.entity, scope.startedAt, ...period.bindings],
      )) as { rows: Array<{ external_id: string; content_hash: string }> }
      await trx.raw('set local enable_nestloop = on')
      return result.rows
    },

    /** Live records and, for money entities, their totals per currency and day. */
    async countsAndTotals(trx: Knex.Transaction, scope: { connectionId: string; entity: EntityName; period: Period }): Promise<{ count: number; totals: Totals }> {
      const period = periodSql(scope.period)
      const bucket = bucketSql(scope.entity)
      if (!bucket) {
        const result = (await trx.raw(`select count(*)::int as count from integration.records r where r.connection_id = ? and r.entity = ? and r.deleted_at is null${period.sql}`, [scope.connectionId, scope.entity, ...period.bindings])) as {
          rows: Array<{ count: number }>
        }
        return { count: result.rows[0]?.count ?? 0, totals: {} }
      }
      const result = (await trx.raw(
        `select ${bucket.key} as key, count(*)::int as count, sum(${bucket.amount})::text as amount
           from integration.records r where r.connection_id = ? and r.entity = ? and r.deleted_at is null${period.sql}
          group by 1`,
        [scope.connectionId, scope.entity, ...period.bindings],
      )) as { rows: Array<{ key: string; count: number; amount: string }> }
      const totals: Totals = Object.create(null) as Totals
      let count = 0
      for (const row of result.rows) {
        totals[row.key] = { count: row.count, amount: Number(row.amount) }
        count += row.count
      }
      return { count, totals }
    },
  }
}

export type HubRecordsReader = ReturnType<typeof createHubRecordsReader>
