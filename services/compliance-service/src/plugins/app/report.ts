// The auditor's report for one venue and period: runs by provider and status, failures with their
// reasons, records moved, and the last success per provider. JSON, or CSV with one row per run.
// Totals come summed by the database, so they are right for any number of runs; the JSON lists
// failures up to a bound and says when there are more, and the CSV is streamed in batches.
import type { Report } from '../../schemas/compliance.ts'
import type { StoredSyncLog, SyncLogTotals } from './sync-log-store.ts'

/** The statuses a report lists as failures. */
export const FAILURE_STATUSES = ['failed', 'partial']

const emptyCounts = () => ({ fetched: 0, created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 })

/**
 * `failures` holds the period's first failures, oldest first, at most `maxFailures` of them (the
 * caller reads one more to know whether there are others).
 */
export function buildReport(venueId: string, from: string, to: string, totals: SyncLogTotals[], failures: StoredSyncLog[], maxFailures: number, now = new Date()): Report {
  const report: Report = {
    venueId,
    from,
    to,
    generatedAt: now.toISOString(),
    totalRuns: 0,
    runsByProvider: {},
    recordsMoved: {},
    totalFailures: 0,
    failuresTruncated: failures.length > maxFailures,
    failures: failures.slice(0, maxFailures).map((run) => ({ syncLogId: run.id, provider: run.provider, entity: run.entity, status: run.status, errorCode: run.errorCode, errorMessage: run.errorMessage, finishedAt: run.finishedAt })),
    lastSuccessByProvider: {},
  }
  for (const group of totals) {
    report.totalRuns += group.runs
    if (FAILURE_STATUSES.includes(group.status)) report.totalFailures += group.runs
    const byProvider = (report.runsByProvider[group.provider] ??= { total: 0, byStatus: {} })
    byProvider.total += group.runs
    byProvider.byStatus[group.status] = group.runs
    const moved = (report.recordsMoved[group.provider] ??= emptyCounts())
    for (const key of Object.keys(moved) as Array<keyof typeof moved>) moved[key] += group.counts[key]
    report.lastSuccessByProvider[group.provider] ??= null
    if (group.status === 'succeeded') report.lastSuccessByProvider[group.provider] = group.lastFinishedAt
  }
  return report
}

const CSV_COLUMNS = ['sync_log_id', 'provider', 'entity', 'mode', 'trigger', 'status', 'started_at', 'finished_at', 'fetched', 'created', 'updated', 'unchanged', 'deleted', 'failed', 'error_code', 'error_message'] as const

/** Quotes per RFC 4180, and defuses cells a spreadsheet would run as a formula. */
export function csvCell(value: string | number | null): string {
  if (value === null) return ''
  let text = String(value)
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export const REPORT_CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`

/** One run as a line of the report's CSV. */
export function reportCsvLine(run: StoredSyncLog): string {
  return `${[
    run.id,
    run.provider,
    run.entity,
    run.mode,
    run.trigger,
    run.status,
    run.startedAt,
    run.finishedAt,
    run.counts.fetched,
    run.counts.created,
    run.counts.updated,
    run.counts.unchanged,
    run.counts.deleted,
    run.counts.failed,
    run.errorCode,
    run.errorMessage,
  ]
    .map(csvCell)
    .join(',')}\r\n`
}
