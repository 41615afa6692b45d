// integration-service's clean-up run: records of connections disconnected longer than the
// tenant's period, raw webhook payloads (the inbox) and sync logs past theirs, and OAuth states a
// day after they expired (no tenant's data: no period or hold applies). compliance-service
// owns the periods and the legal holds; the run asks it first, for every tenant it is about to
// touch, and purges nothing of a tenant it has no answer for. Deletes go in bounded batches, each
// its own short transaction, with a pause between them; every step is idempotent (a retried or
// repeated run finds nothing more to delete and records nothing more).
import { randomUUID } from 'node:crypto'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { RetentionPlan, TenantRetentionPlan } from '@hub/contracts'
import { deleteInBatches, type AuditOutbox, type Database } from '@hub/service-kit'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { OAuthStateRepository } from '../connections/oauth-state-repository.ts'
import type { RecordRepository } from '../sync/record-repository.ts'
import type { SyncLogRepository } from '../sync-logs/sync-log-repository.ts'
import type { WebhookInboxRepository } from '../webhooks/webhook-inbox-repository.ts'

const DAY_MS = 86_400_000
/** Tenants asked about in one plan request (the route's limit). */
const PLAN_CHUNK = 500
/** An expired OAuth state is kept a day, for whoever looks into a failed sign-in. */
const OAUTH_STATE_GRACE_MS = DAY_MS
export const RETENTION_ACTOR = 'integration-retention'

export interface RetentionCounts {
  records: number
  webhookPayloads: number
  syncLogs: number
}

export interface RetentionRunResult {
  runId: string
  tenants: number
  heldTenants: number
  purged: RetentionCounts
  expiredOAuthStates: number
}

interface RunnerLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

export interface RetentionRunnerDeps {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  connections: Pick<ConnectionRepository, 'tenantIds' | 'listDisconnectedBefore' | 'idsOfVenues'>
  records: Pick<RecordRepository, 'purgeBatch'>
  inbox: Pick<WebhookInboxRepository, 'purgeBatch'>
  syncLogs: Pick<SyncLogRepository, 'purgeBatch'>
  oauthStates: Pick<OAuthStateRepository, 'purgeExpired'>
  audit: AuditOutbox
  /** compliance-service's answer (the typed internal client); a failure stops the run before any purge of those tenants. */
  plan: (tenantIds: string[]) => Promise<RetentionPlan>
  registry: Registry
  logger: RunnerLogger
  batchSize: number
  batchPauseMs: number
}

export class RetentionPlanUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`compliance-service could not say which periods and holds apply; nothing was purged (${(cause as Error).message})`)
    this.name = 'RetentionPlanUnavailableError'
  }
}

export function createRetentionRunner(deps: RetentionRunnerDeps) {
  const { db, logger } = deps
  const purgedTotal = new Counter({ name: 'integration_retention_purged_total', help: 'Rows removed by retention, by kind', labelNames: ['kind'], registers: [deps.registry] })
  const runsTotal = new Counter({ name: 'integration_retention_runs_total', help: 'Retention runs, by outcome', labelNames: ['outcome'], registers: [deps.registry] })
  const lastRun = new Gauge({ name: 'integration_retention_last_run_timestamp_seconds', help: 'When the last successful retention run finished', registers: [deps.registry] })
  for (const kind of ['records', 'webhook_payloads', 'sync_logs', 'oauth_states']) purgedTotal.inc({ kind }, 0)

  const inBatches = (deleteBatch: (limit: number) => Promise<number>, kind: string): Promise<number> =>
    deleteInBatches(deleteBatch, { batchSize: deps.batchSize, pauseMs: deps.batchPauseMs, onBatch: (removed) => purgedTotal.inc({ kind }, removed) })

  async function cleanTenant(plan: TenantRetentionPlan, runId: string, now: number): Promise<RetentionCounts> {
    const { tenantId, periods } = plan
    const heldVenues = new Set(plan.heldVenueIds)
    const heldConnections = new Set([...plan.heldConnectionIds, ...(await db.withTenant(tenantId, (trx) => deps.connections.idsOfVenues(trx, plan.heldVenueIds)))])
    const held = { venueIds: [...heldVenues], connectionIds: [...heldConnections] }

    const disconnected = (await db.withTenant(tenantId, (trx) => deps.connections.listDisconnectedBefore(trx, new Date(now - periods.disconnectedRecords * DAY_MS))))
      .filter((connection) => !heldConnections.has(connection.id) && !heldVenues.has(connection.venue_id))
      .map((connection) => connection.id)
    const records = await inBatches((limit) => db.withTenant(tenantId, (trx) => deps.records.purgeBatch(trx, disconnected, limit)), 'records')
    const webhookPayloads = await inBatches((limit) => db.withTenant(tenantId, (trx) => deps.inbox.purgeBatch(trx, tenantId, new Date(now - periods.webhookPayloads * DAY_MS), held.connectionIds, limit)), 'webhook_payloads')
    const syncLogs = await inBatches((limit) => db.withTenant(tenantId, (trx) => deps.syncLogs.purgeBatch(trx, tenantId, new Date(now - periods.syncLogs * DAY_MS), held, limit)), 'sync_logs')
    const counts = { records, webhookPayloads, syncLogs }
    // One audit entry per run in each tenant whose data it touched, through the outbox.
    if (records + webhookPayloads + syncLogs > 0) {
      await db.withTenant(tenantId, (trx) =>
        deps.audit.record(trx, {
          tenantId,
          actorType: 'service',
          actorId: RETENTION_ACTOR,
          action: 'retention.purged',
          entityType: 'retention_run',
          entityId: runId,
          after: { service: 'integration-service', policyVersion: plan.policyVersion, ...counts },
        }),
      )
    }
    return counts
  }

  /** One run over every tenant; `onProgress` gets the share done (0–100). */
  async function run(options: { now?: number; onProgress?: (percent: number) => Promise<void> | void } = {}): Promise<RetentionRunResult> {
    const now = options.now ?? Date.now()
    const runId = randomUUID()
    const tenantIds = await db.withSystemScope((trx) => deps.connections.tenantIds(trx))
    const result: RetentionRunResult = { runId, tenants: tenantIds.length, heldTenants: 0, purged: { records: 0, webhookPayloads: 0, syncLogs: 0 }, expiredOAuthStates: 0 }
    try {
      result.expiredOAuthStates = await inBatches((limit) => db.withSystemScope((trx) => deps.oauthStates.purgeExpired(trx, new Date(now - OAUTH_STATE_GRACE_MS), limit)), 'oauth_states')
      let done = 0
      for (let i = 0; i < tenantIds.length; i += PLAN_CHUNK) {
        const chunk = tenantIds.slice(i, i + PLAN_CHUNK)
        let plan: RetentionPlan
        try {
          plan = await deps.plan(chunk)
        } catch (error) {
          throw new RetentionPlanUnavailableError(error)
        }
        const byTenant = new Map(plan.data.map((tenant) => [tenant.tenantId, tenant]))
        for (const tenantId of chunk) {
          const tenantPlan = byTenant.get(tenantId)
          // No answer for a tenant: its holds are unknown, so nothing of it goes.
          if (!tenantPlan || tenantPlan.tenantHeld) result.heldTenants++
          else {
            const counts = await cleanTenant(tenantPlan, runId, now)
            result.purged.records += counts.records
            result.purged.webhookPayloads += counts.webhookPayloads
            result.purged.syncLogs += counts.syncLogs
          }
          done++
          await options.onProgress?.(Math.floor((done / tenantIds.length) * 100))
        }
      }
    } catch (error) {
      runsTotal.inc({ outcome: 'failed' })
      throw error
    }
    runsTotal.inc({ outcome: 'succeeded' })
    lastRun.set(Date.now() / 1000)
    logger.info({ ...result }, 'retention run finished')
    return result
  }

  return { run }
}

export type RetentionRunner = ReturnType<typeof createRetentionRunner>
