// Data access for push_state: what each push destination already received (and its content hash),
// so a push run sends only what is new or changed. The candidates query reads records (joined
// against push_state): which of a venue's records a destination still needs.
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { EntityName } from '../../../providers/canonical.ts'
import type { PushJobData } from './sync-queues.ts'

const SETTLED_PAYMENT_STATUSES = ['succeeded', 'completed', 'paid']

export interface PushCandidate {
  connection_id: string
  external_id: string
  entity: EntityName
  provider: string
  content_hash: string
  /** The record's place in change order (the records feed's): its writing transaction and change_seq, as text. */
  change_xid: string
  change_seq: string
  data: Record<string, unknown>
  created_at: Date
}

/** Where a push goes: the operation, the venue whose records it sends, the destination connection. */
export interface PushTarget {
  operation: PushJobData['operation']
  venueId: string
  entity: EntityName
  connectionId: string
}

export function createPushStateRepository() {
  function query(trx: Knex.Transaction, job: PushTarget) {
    const query = trx(`${INTEGRATION_TABLES.records} as r`)
      .leftJoin(`${INTEGRATION_TABLES.pushState} as p`, (join) => {
        join.on('p.source_connection_id', 'r.connection_id').andOn('p.entity', 'r.entity').andOn('p.external_id', 'r.external_id').andOnVal('p.destination_connection_id', job.connectionId)
      })
      .where('r.venue_id', job.venueId)
      .where('r.entity', job.entity)
      .whereNull('r.deleted_at')
      .whereNot('r.connection_id', job.connectionId)
    if (job.operation === 'mailchimp.upsert_contacts') {
      query
        .whereRaw("coalesce(r.data->>'email', '') <> ''")
        .whereRaw('p.content_hash is distinct from r.content_hash')
        .whereNotExists(
          trx(`${INTEGRATION_TABLES.records} as c`)
            .select(trx.raw('1'))
            .where('c.connection_id', job.connectionId)
            .where('c.entity', 'contact')
            .whereNull('c.deleted_at')
            .whereRaw("lower(c.data->>'email') = lower(r.data->>'email')")
            .whereRaw("c.data->>'status' <> 'transactional'"),
        )
    } else {
      query.whereNull('p.external_id').whereRaw("lower(r.data->>'status') = any(?::text[])", [SETTLED_PAYMENT_STATUSES]).whereNot('r.provider', 'quickbooks')
    }
    return query
  }

  return {
    async countCandidates(trx: Knex.Transaction, target: PushTarget): Promise<number> {
      const [row] = await query(trx, target).count<Array<{ count: string }>>('* as count')
      return Number(row?.count ?? 0)
    },

    /**
     * The next `limit` candidates after `after` (a candidate's change_xid and change_seq), in that
     * order: the records feed's, so both read the venue's records through one index.
     */
    async candidates(trx: Knex.Transaction, target: PushTarget, after: Pick<PushCandidate, 'change_xid' | 'change_seq'> | null, limit: number): Promise<PushCandidate[]> {
      const q = query(trx, target)
      if (after !== null) q.whereRaw('(r.change_xid, r.change_seq) > (?::xid8, ?::bigint)', [after.change_xid, after.change_seq])
      return q
        .select<PushCandidate[]>('r.connection_id', 'r.external_id', 'r.entity', 'r.provider', 'r.content_hash', trx.raw('r.change_xid::text as change_xid'), 'r.change_seq', 'r.data', 'r.created_at')
        .orderBy([{ column: 'r.change_xid' }, { column: 'r.change_seq' }])
        .limit(limit)
    },

    /** Remembers what the destination received (idempotent: a batch sent again only refreshes the hash). */
    async markPushed(trx: Knex.Transaction, target: { tenantId: string; connectionId: string }, records: PushCandidate[]): Promise<void> {
      await trx(INTEGRATION_TABLES.pushState)
        .insert(
          records.map((record) => ({
            destination_connection_id: target.connectionId,
            source_connection_id: record.connection_id,
            entity: record.entity,
            external_id: record.external_id,
            tenant_id: target.tenantId,
            content_hash: record.content_hash,
          })),
        )
        .onConflict(['destination_connection_id', 'source_connection_id', 'entity', 'external_id'])
        .merge({ content_hash: trx.raw('excluded.content_hash'), pushed_at: trx.fn.now() })
    },
  }
}

export type PushStateRepository = ReturnType<typeof createPushStateRepository>
