// Push runs (low queue): a venue's hub records out to a destination provider in batches.
// - Mailchimp: the venue's customers (from any of its source connections) upserted as audience
//   members. Status `transactional`: a purchase is not marketing consent, and members already in
//   the audience with another status are left as they are.
// - QuickBooks: the venue's settled payments as sales receipts, each keyed by its payment (the
//   key becomes Intuit's requestid, so a batch re-sent after a crash creates nothing twice).
// push_state remembers what was pushed (and its content hash), so a run sends only what is new or
// changed and the same job delivered again sends nothing.
import type Bull from 'bull'
import type { Database } from '@hub/service-kit'
import type { EntityName } from '../../../providers/canonical.ts'
import type { MailchimpMemberUpsert, PushResult, SalesReceiptPush } from '../../../providers/provider-adapter.ts'
import type { ConnectionContext, ConnectionForSync } from '../connections/connection-context.ts'
import type { SyncLogRepository, SyncRunRepository } from '../sync-logs/sync-log-repository.ts'
import type { JobControl } from './job-control.ts'
import { RunInterrupted, type GateTarget, type ProviderGate } from './provider-gate.ts'
import { reauthOnFailure } from './provider-reauth.ts'
import type { RunSignal } from './run-signal.ts'
import { FINISHED_STATUSES, type Counts, type RunOutcome, type RunProgress } from './sync-runner.ts'
import { SyncFailure, scrubSecrets, workerStopping } from './sync-errors.ts'
import type { SyncMetrics } from './sync-metrics.ts'
import type { PushJobData } from './sync-queues.ts'
import type { PushCandidate, PushStateRepository } from './push-state-repository.ts'
import type { RecordRepository } from './record-repository.ts'

export const PUSH_OPERATIONS = {
  'mailchimp.upsert_contacts': { provider: 'mailchimp', entity: 'customer', batchSize: 500 },
  'quickbooks.sales_receipts': { provider: 'quickbooks', entity: 'payment', batchSize: 50 },
} as const satisfies Record<PushJobData['operation'], { provider: string; entity: EntityName; batchSize: number }>

const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null)

export function createPushRunner(deps: {
  db: Pick<Database, 'withTenant'>
  connectionContext: Pick<ConnectionContext, 'forSync' | 'onAuthFailure'>
  syncLogs: Pick<SyncLogRepository, 'update'>
  runs: SyncRunRepository
  records: Pick<RecordRepository, 'contactAudience'>
  pushState: PushStateRepository
  gate: ProviderGate
  control: Pick<JobControl, 'lockRun' | 'clearCancel'>
  metrics: SyncMetrics
}) {
  const { db, gate, runs } = deps

  const pushTarget = (job: PushJobData) => ({ operation: job.operation, venueId: job.venueId, entity: PUSH_OPERATIONS[job.operation].entity, connectionId: job.connectionId })

  async function audienceOf(tenantId: string, connectionId: string): Promise<string | null> {
    return str(await db.withTenant(tenantId, (trx) => deps.records.contactAudience(trx, connectionId)))
  }

  async function run(job: Bull.Job<PushJobData>, signal: RunSignal): Promise<RunOutcome> {
    const data = job.data
    const spec = PUSH_OPERATIONS[data.operation]
    const { tenantId, connectionId, syncLogId } = data
    const log = await db.withTenant(tenantId, (trx) => runs.findRow(trx, syncLogId))
    if (!log) throw new SyncFailure('SYNC_LOG_NOT_FOUND', 'The sync log of this job no longer exists.', { disposition: 'stop', deadLetter: false })
    if (FINISHED_STATUSES.has(log.status)) return { status: 'skipped', syncLogId, counts: log.counts, reason: `already ${log.status}` }

    const lock = await deps.control.lockRun(`${connectionId}:${spec.entity}:push`)
    try {
      // Again under the run lock: a second delivery of the job that passed the check above while
      // the first was still working waited for the lock, and the run has ended since.
      const current = await db.withTenant(tenantId, (trx) => runs.findRow(trx, syncLogId))
      if (!current) throw new SyncFailure('SYNC_LOG_NOT_FOUND', 'The sync log of this job no longer exists.', { disposition: 'stop', deadLetter: false })
      if (FINISHED_STATUSES.has(current.status)) return { status: 'skipped', syncLogId, counts: current.counts, reason: `already ${current.status}` }
      const connection: ConnectionForSync = await deps.connectionContext.forSync(tenantId, connectionId)
      const { adapter } = connection.binding
      const provider = connection.connection.provider
      if (provider !== spec.provider) throw new SyncFailure('PUSH_TARGET_MISMATCH', `${data.operation} needs a ${spec.provider} connection, not ${provider}.`, { disposition: 'stop', deadLetter: false })
      const target: GateTarget = { tenantId, connectionId, provider, scope: connection.connection.account_id ?? connectionId }
      let listId: string | null = null
      if (data.operation === 'mailchimp.upsert_contacts') {
        // The audience of the connection's synced contacts.
        listId = await audienceOf(tenantId, connectionId)
        if (!listId) throw new SyncFailure('PUSH_TARGET_UNKNOWN', "No Mailchimp audience to push to: sync the connection's contacts first.", { disposition: 'stop', deadLetter: true })
      }

      const total = await db.withTenant(tenantId, async (trx) => {
        await runs.markRunning(trx, syncLogId, { jobId: String(job.id), cursorBefore: null })
        return deps.pushState.countCandidates(trx, pushTarget(data))
      })
      let counts: Counts = { ...current.counts }
      const fetchedBefore = counts.fetched
      let afterCandidate: Pick<PushCandidate, 'change_xid' | 'change_seq'> | null = null
      let pages = 0
      let firstRefusal: string | null = null

      const pushBatch = async (batch: PushCandidate[]): Promise<Set<string>> => {
        const call = <T>(fn: () => Promise<T>, cost: number) =>
          gate.withRetries(() => gate.call(target, fn, { cost, stopReason: signal.stopReason, operation: data.operation }), {
            stopReason: signal.stopReason,
            onAuthFailure: reauthOnFailure(deps.connectionContext, tenantId, connectionId, connection),
          })
        const failedKeys = new Set<string>()
        let result: PushResult
        const remember = (failures: PushResult['failed']) => {
          const failure = failures[0]
          if (failure && !firstRefusal) firstRefusal = `${failure.code}: ${failure.message}`
        }
        if (data.operation === 'mailchimp.upsert_contacts') {
          if (!adapter.upsertContacts) throw new SyncFailure('PUSH_UNSUPPORTED', 'The Mailchimp adapter cannot upsert members.', { disposition: 'stop' })
          // One member per email: the same person may come from two source connections.
          const byEmail = new Map<string, MailchimpMemberUpsert>()
          for (const record of batch) {
            const email = str(record.data.email) as string
            byEmail.set(email.toLowerCase(), { email, givenName: str(record.data.givenName), familyName: str(record.data.familyName), status: 'transactional' })
          }
          const members = [...byEmail.values()]
          const upsert = adapter.upsertContacts.bind(adapter)
          result = await call(() => upsert(connection.ctx, listId as string, members), Math.ceil(members.length / 500))
          remember(result.failed)
          for (const failure of result.failed) failedKeys.add(failure.key.toLowerCase())
          return new Set(batch.filter((record) => failedKeys.has((str(record.data.email) as string).toLowerCase())).map((record) => `${record.connection_id}:${record.external_id}`))
        }
        if (!adapter.createSalesReceipts) throw new SyncFailure('PUSH_UNSUPPORTED', 'The QuickBooks adapter cannot create sales receipts.', { disposition: 'stop' })
        const receipts: SalesReceiptPush[] = batch.map((record) => ({
          key: `${record.connection_id}:${record.external_id}`,
          customerExternalId: null,
          amount: Number(record.data.amount),
          currency: String(record.data.currency ?? ''),
          description: `${record.provider} payment ${record.external_id}`,
          date: str(record.data.createdAt) ?? record.created_at.toISOString(),
        }))
        const create = adapter.createSalesReceipts.bind(adapter)
        result = await call(() => create(connection.ctx, receipts), receipts.length)
        remember(result.failed)
        return new Set(result.failed.map((failure) => failure.key))
      }

      try {
        for (;;) {
          const stop = await signal.refresh()
          if (stop) throw new RunInterrupted(stop)
          const batch = await db.withTenant(tenantId, (trx) => deps.pushState.candidates(trx, pushTarget(data), afterCandidate, spec.batchSize))
          if (batch.length === 0) break
          const failed = await pushBatch(batch)
          const pushed = batch.filter((record) => !failed.has(`${record.connection_id}:${record.external_id}`))
          counts = await db.withTenant(tenantId, async (trx) => {
            if (pushed.length > 0) await deps.pushState.markPushed(trx, { tenantId, connectionId }, pushed)
            const after: Counts = { ...counts, fetched: counts.fetched + batch.length, created: counts.created + pushed.length, failed: counts.failed + failed.size }
            await deps.syncLogs.update(trx, syncLogId, { counts: after })
            return after
          })
          deps.metrics.records(provider, spec.entity, { pushed: pushed.length, failed: failed.size })
          const last = batch[batch.length - 1] as PushCandidate
          afterCandidate = { change_xid: last.change_xid, change_seq: last.change_seq }
          pages++
          const percent = total > 0 ? Math.min(99, Math.floor(((counts.fetched - fetchedBefore) / total) * 100)) : null
          await job.progress({ ...counts, pages, percent } satisfies RunProgress).catch(() => undefined)
        }
      } catch (error) {
        if (!(error instanceof RunInterrupted)) throw error
        if (error.reason === 'shutdown') throw workerStopping()
        await db.withTenant(tenantId, (trx) => deps.syncLogs.update(trx, syncLogId, { status: 'cancelled', finishedAt: new Date(), counts }))
        await deps.control.clearCancel(String(job.id))
        return { status: 'cancelled', syncLogId, counts }
      }

      const status = counts.failed > 0 ? 'partial' : 'succeeded'
      // A partial push says why records were refused (the provider's reason for the first one).
      const refusal =
        counts.failed > 0 ? { errorCode: 'RECORDS_REFUSED', errorMessage: scrubSecrets(`${counts.failed} of ${counts.fetched} records refused${firstRefusal ? `; first: ${firstRefusal}` : ''}`) } : { errorCode: null, errorMessage: null }
      await db.withTenant(tenantId, (trx) => deps.syncLogs.update(trx, syncLogId, { status, finishedAt: new Date(), counts, ...refusal }))
      await job.progress({ ...counts, pages, percent: 100 } satisfies RunProgress).catch(() => undefined)
      return { status, syncLogId, counts }
    } finally {
      await lock.release()
    }
  }

  return { run }
}

export type PushRunner = ReturnType<typeof createPushRunner>
