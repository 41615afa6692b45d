// The auditor's report for one venue and period: runs by provider and status, failures with their
// reasons, records moved, and the last success per provider. JSON, or CSV with one row per run.
import type { Report } from '../../schemas/compliance.ts'
import type { StoredSyncLog } from './sync-log-store.ts'

const emptyCounts = () => ({ fetched: 0, created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 })

export function buildReport(venueId: string, from: string, to: string, runs: StoredSyncLog[], now = new Date()): Report {
  const report: Report = { venueId, from, to, generatedAt: now.toISOString(), totalRuns: runs.length, runsByProvider: {}, recordsMoved: {}, failures: [], lastSuccessByProvider: {} }
  for (const run of runs) {
    const byProvider = (report.runsByProvider[run.provider] ??= { total: 0, byStatus: {} })
    byProvider.total += 1
    byProvider.byStatus[run.status] = (byProvider.byStatus[run.status] ?? 0) + 1
    const moved = (report.recordsMoved[run.provider] ??= emptyCounts())
    for (const key of Object.keys(moved) as Array<keyof typeof moved>) moved[key] += run.counts[key]
    if (run.status === 'failed' || run.status === 'partial') {
      report.failures.push({ syncLogId: run.id, provider: run.provider, entity: run.entity, status: run.status, errorCode: run.errorCode, errorMessage: run.errorMessage, finishedAt: run.finishedAt })
    }
    report.lastSuccessByProvider[run.provider] ??= null
    if (run.status === 'succeeded' && run.finishedAt && (report.lastSuccessByProvider[run.provider] ?? '') < run.finishedAt) report.lastSuccessByProvider[run.provider] = run.finishedAt
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

export function reportCsv(runs: StoredSyncLog[]): string {
  const lines = [CSV_COLUMNS.join(',')]
  for (const run of runs) {
    lines.push(
      [
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
        .join(','),
    )
  }
  return `${lines.join('\r\n')}\r\n`
}
