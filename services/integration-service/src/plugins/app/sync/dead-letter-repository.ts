// Jobs that exhausted their attempts, kept for an admin to retry or discard.
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { JobData } from './sync-queues.ts'
import { jsonb } from '@hub/service-kit'

export interface DeadLetterRow {
  id: string
  tenant_id: string
  queue: string
  job_name: string
  job_id: string | null
  payload: JobData
  error_code: string | null
  error_message: string | null
  attempts: number
  failed_at: Date
  retried_at: Date | null
  discarded_at: Date | null
  /** failed_at to the microsecond (a JS Date keeps milliseconds only): the page cursor. */
  failed_at_cursor?: string
}

export interface DeadLetter {
  id: string
  queue: string
  jobName: string
  jobId: string | null
  /** The job's data: ids only. */
  payload: JobData
  errorCode: string | null
  errorMessage: string | null
  attempts: number
  failedAt: string
  retriedAt: string | null
  discardedAt: string | null
}

export const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  queue: row.queue,
  jobName: row.job_name,
  jobId: row.job_id,
  payload: row.payload,
  errorCode: row.error_code,
  errorMessage: row.error_message,
  attempts: row.attempts,
  failedAt: row.failed_at.toISOString(),
  retriedAt: row.retried_at?.toISOString() ?? null,
  discardedAt: row.discarded_at?.toISOString() ?? null,
})

const table = (trx: Knex.Transaction) => trx<DeadLetterRow>(INTEGRATION_TABLES.deadLetters)

export function createDeadLetterRepository() {
  return {
    async insert(trx: Knex.Transaction, letter: { tenantId: string; queue: string; jobName: string; jobId: string | null; payload: JobData; errorCode: string; errorMessage: string; attempts: number }): Promise<DeadLetterRow> {
      const [row] = await table(trx)
        .insert({
          tenant_id: letter.tenantId,
          queue: letter.queue,
          job_name: letter.jobName,
          job_id: letter.jobId,
          payload: jsonb(letter.payload),
          error_code: letter.errorCode,
          error_message: letter.errorMessage,
          attempts: letter.attempts,
        })
        .returning('*')
      return row as DeadLetterRow
    },

    async existsForJob(trx: Knex.Transaction, queue: string, jobId: string): Promise<boolean> {
      return (await table(trx).where({ queue, job_id: jobId }).first('id')) !== undefined
    },

    /** Open letters first by newest failure; `after` is the last (failed_at, id) of the previous page. */
    async list(trx: Knex.Transaction, options: { after?: { failedAt: string; id: string }; limit: number; includeResolved?: boolean }): Promise<DeadLetterRow[]> {
      const query = table(trx).select('*', trx.raw(`to_char(failed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as failed_at_cursor`))
      if (!options.includeResolved) query.whereNull('retried_at').whereNull('discarded_at')
      if (options.after) query.whereRaw('(failed_at, id) < (?::timestamptz, ?::uuid)', [options.after.failedAt, options.after.id])
      return (await query
        .orderBy([
          { column: 'failed_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(options.limit)) as DeadLetterRow[]
    },

    async findOpenForUpdate(trx: Knex.Transaction, id: string): Promise<DeadLetterRow | null> {
      return ((await table(trx).where({ id }).whereNull('retried_at').whereNull('discarded_at').forUpdate().first()) as DeadLetterRow | undefined) ?? null
    },

    async mark(trx: Knex.Transaction, id: string, field: 'retried_at' | 'discarded_at', at: Date | null): Promise<DeadLetterRow> {
      const [row] = await table(trx)
        .where({ id })
        .update({ [field]: at })
        .returning('*')
      return row as DeadLetterRow
    },
  }
}

export type DeadLetterRepository = ReturnType<typeof createDeadLetterRepository>
