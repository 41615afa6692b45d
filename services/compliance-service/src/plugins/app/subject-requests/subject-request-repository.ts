// Data access for data-subject requests (this file owns subject_requests): creation, the runner's
// claim with a lease, progress, the end of a request, the tenant's list, and the clean-up an
// erase does on earlier exports that mention the person. Knex and nothing else.
import type { Knex } from 'knex'
import { mentionBindings, mentionsSql } from '@hub/service-kit'
import type { SubjectIdentifiers } from '@hub/contracts'
import { COMPLIANCE_TABLES } from '../../../db/schema.ts'

export interface SubjectRequestRow {
  id: string
  tenant_id: string
  type: 'export' | 'erase'
  status: 'queued' | 'running' | 'succeeded' | 'failed'
  subject: SubjectIdentifiers | null
  subject_masked: SubjectIdentifiers
  requested_by: string
  progress: number
  step: string | null
  attempts: number
  outcome: Record<string, unknown> | null
  error_code: string | null
  created_at: Date
  updated_at: Date
  started_at: Date | null
  finished_at: Date | null
}

/** Every column but the export document, which only the export route reads. */
const COLUMNS = ['id', 'tenant_id', 'type', 'status', 'subject', 'subject_masked', 'requested_by', 'progress', 'step', 'attempts', 'outcome', 'error_code', 'created_at', 'updated_at', 'started_at', 'finished_at']

const table = (trx: Knex.Transaction) => trx(COMPLIANCE_TABLES.subjectRequests)

export function createSubjectRequestRepository() {
  return {
    async insert(trx: Knex.Transaction, input: { tenantId: string; type: SubjectRequestRow['type']; subject: SubjectIdentifiers; masked: SubjectIdentifiers; requestedBy: string }): Promise<SubjectRequestRow> {
      const [row] = (await table(trx)
        .insert({ tenant_id: input.tenantId, type: input.type, subject: JSON.stringify(input.subject), subject_masked: JSON.stringify(input.masked), requested_by: input.requestedBy })
        .returning(COLUMNS)) as SubjectRequestRow[]
      if (!row) throw new Error('subject request insert returned nothing')
      return row
    },

    async find(trx: Knex.Transaction, id: string): Promise<SubjectRequestRow | undefined> {
      return (await table(trx).select(COLUMNS).where({ id }).first()) as SubjectRequestRow | undefined
    },

    async exportDocument(trx: Knex.Transaction, id: string): Promise<{ status: SubjectRequestRow['status']; type: SubjectRequestRow['type']; document: unknown } | undefined> {
      const row = (await table(trx).select('status', 'type', 'export_document').where({ id }).first()) as { status: SubjectRequestRow['status']; type: SubjectRequestRow['type']; export_document: unknown } | undefined
      return row ? { status: row.status, type: row.type, document: row.export_document } : undefined
    },

    /** The tenant's requests, newest first, keyset-paged by (created_at, id); in the tenant's transaction. */
    async list(trx: Knex.Transaction, filter: { limit: number; before?: { at: string; id: string } }): Promise<SubjectRequestRow[]> {
      const query = table(trx).select(COLUMNS)
      if (filter.before) query.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [filter.before.at, filter.before.id])
      return (await query
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(filter.limit)) as SubjectRequestRow[]
    },

    /**
     * Across tenants (system scope): takes the oldest open request nobody holds — queued, or
     * running under a lease that lapsed (its runner died) — and leases it to the caller.
     */
    async claim(trx: Knex.Transaction, leaseMs: number): Promise<SubjectRequestRow | undefined> {
      const result = (await trx.raw(
        `update ${COMPLIANCE_TABLES.subjectRequests} set status = 'running', attempts = attempts + 1, lease_until = now() + (? * interval '1 millisecond'),
                started_at = coalesce(started_at, now()), updated_at = now()
          where id = (
            select id from ${COMPLIANCE_TABLES.subjectRequests}
             where status = 'queued' or (status = 'running' and lease_until < now())
             order by created_at limit 1 for update skip locked
          )
          returning ${COLUMNS.join(', ')}`,
        [leaseMs],
      )) as { rows: SubjectRequestRow[] }
      return result.rows[0]
    },

    /** Progress of a running request; also renews its lease, so only a dead runner loses it. */
    async progress(trx: Knex.Transaction, id: string, progress: number, step: string, leaseMs: number): Promise<void> {
      await table(trx)
        .where({ id, status: 'running' })
        .update({ progress, step, lease_until: trx.raw("now() + (? * interval '1 millisecond')", [leaseMs]), updated_at: trx.fn.now() })
    },

    /** Adds outcome members a previous run has not already set (a repeated run keeps the first run's counts). */
    async keepOutcome(trx: Knex.Transaction, id: string, partial: Record<string, unknown>): Promise<void> {
      await table(trx)
        .where({ id })
        .update({ outcome: trx.raw("?::jsonb || coalesce(outcome, '{}'::jsonb)", [JSON.stringify(partial)]) } as never)
    },

    /** A failed attempt: claimed again once the lease lapses. */
    async retryLater(trx: Knex.Transaction, id: string, retryMs: number): Promise<void> {
      await table(trx)
        .where({ id, status: 'running' })
        .update({ lease_until: trx.raw("now() + (? * interval '1 millisecond')", [retryMs]), updated_at: trx.fn.now() } as never)
    },

    /** The end of a request: its identifiers go, its outcome (counts, masked values) stays. */
    async finish(trx: Knex.Transaction, id: string, end: { status: 'succeeded' | 'failed'; outcome: Record<string, unknown> | null; exportDocument?: unknown; errorCode?: string }): Promise<boolean> {
      const updated = await table(trx)
        .where({ id, status: 'running' })
        .update({
          status: end.status,
          progress: end.status === 'succeeded' ? 100 : trx.raw('progress'),
          step: end.status,
          subject: null,
          lease_until: null,
          outcome: end.outcome === null ? null : JSON.stringify(end.outcome),
          export_document: end.exportDocument === undefined ? null : JSON.stringify(end.exportDocument),
          error_code: end.errorCode ?? null,
          finished_at: trx.fn.now(),
          updated_at: trx.fn.now(),
        } as never)
      return updated > 0
    },

    /** Earlier exports that mention one of the emails (as a whole address): an erase clears their documents. */
    async clearExportsMentioning(trx: Knex.Transaction, emails: string[], exceptId: string): Promise<number> {
      if (emails.length === 0) return 0
      const result = (await trx.raw(
        `update ${COMPLIANCE_TABLES.subjectRequests} set export_document = null, updated_at = now(),
                outcome = coalesce(outcome, '{}'::jsonb) || '{"exportErased": true}'::jsonb
          where id <> ? and export_document is not null
            and ${mentionsSql('export_document')}`,
        [exceptId, ...mentionBindings(emails)],
      )) as { rowCount: number }
      return result.rowCount
    },
  }
}

export type SubjectRequestRepository = ReturnType<typeof createSubjectRequestRepository>
