// compliance-service's clean-up run (RETENTION_INTERVAL_MS): its copy of the sync logs, security
// events, and audit entries past each tenant's period. Deletes go in bounded batches, each its own
// short transaction, with a pause between them, so the API's queries never wait long behind one.
// Audit entries are never deleted here: they are sealed into a segment, archived to
// AUDIT_ARCHIVE_DIR, read back, and only then removed through remove_sealed_segment(). A tenant
// under any hold keeps its whole audit chain (a segment is a contiguous stretch: one venue's
// entries cannot be kept out of it). Every step is idempotent, so replicas running it together,
// or a run cut short and started again, remove nothing twice and lose nothing.
import { randomUUID } from 'node:crypto'
import { Counter, Gauge, type Registry } from 'prom-client'
import { RETENTION_DEFAULT_DAYS, type AuditEventInput, type TenantRetentionPlan } from '@hub/contracts'
import { deleteInBatches, type Database } from '@hub/service-kit'
import type { AuditLogStore } from '../audit-log-store.ts'
import { createIntervalJob } from '../interval-job.ts'
import { sealedImage, type AuditSegmentStore } from '../audit-segment-store.ts'
import type { SecurityEventRepository } from '../security-event-repository.ts'
import type { SyncLogStore } from '../sync-log-store.ts'
import type { AuditArchive } from './audit-archive.ts'
import { auditChainHeld, auditLogCutoff, type RetentionService } from './retention-service.ts'

const DAY_MS = 86_400_000
export const RETENTION_ACTOR = 'compliance-retention'

export interface RetentionRunResult {
  runId: string
  tenants: number
  heldTenants: number
  failedTenants: number
  purged: { syncLogs: number; securityEvents: number; auditEntries: number }
  auditSegments: number
}

interface JobLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

export interface ComplianceRetentionDeps {
  db: Pick<Database, 'withSystemScope' | 'withTenant'>
  retention: Pick<RetentionService, 'plans'>
  auditLog: Pick<AuditLogStore, 'append' | 'tenantIds'>
  segments: AuditSegmentStore
  syncLogs: Pick<SyncLogStore, 'tenantIds' | 'purgeBatch'>
  securityEvents: Pick<SecurityEventRepository, 'tenantIds' | 'purgeBatch'>
  /** Null: no archive directory, so no audit entry is ever removed (everything else is purged). */
  archive: AuditArchive | null
  storeKeys: () => Promise<void>
  registry: Registry
  logger: JobLogger
  intervalMs: number
  batchSize: number
  batchPauseMs: number
  segmentMaxEntries: number
}

export function createComplianceRetentionJob(deps: ComplianceRetentionDeps) {
  const { db, logger } = deps
  const purgedTotal = new Counter({ name: 'compliance_retention_purged_total', help: 'Rows removed by retention, by kind', labelNames: ['kind'], registers: [deps.registry] })
  const failedTotal = new Counter({ name: 'compliance_retention_failures_total', help: 'Tenants whose clean-up failed in a run', registers: [deps.registry] })
  const lastRun = new Gauge({ name: 'compliance_retention_last_run_timestamp_seconds', help: 'When the last retention run finished', registers: [deps.registry] })
  const progress = new Gauge({ name: 'compliance_retention_run_progress_ratio', help: 'Share of tenants the current retention run has done', registers: [deps.registry] })
  for (const kind of ['sync_logs', 'security_events', 'audit_entries']) purgedTotal.inc({ kind }, 0)

  const inBatches = (deleteBatch: (limit: number) => Promise<number>, kind: string): Promise<number> =>
    deleteInBatches(deleteBatch, { batchSize: deps.batchSize, pauseMs: deps.batchPauseMs, onBatch: (removed) => purgedTotal.inc({ kind }, removed) })

  const serviceEvent = (tenantId: string, action: string, entityType: string, entityId: string, after: Record<string, unknown>): AuditEventInput => ({
    id: randomUUID(),
    tenantId,
    source: 'compliance-service',
    actorType: 'service',
    actorId: RETENTION_ACTOR,
    action,
    entityType,
    entityId,
    before: null,
    after,
    requestId: null,
    ip: null,
    occurredAt: new Date().toISOString(),
  })

  /** The last entry's time in an archive: a segment is only removed once all of it is past the period. */
  function lastEntryAt(text: string): number {
    let last = Number.NaN
    for (const line of text.split('\n')) {
      if (!line.startsWith('{"type":"entry"')) continue
      last = Date.parse((JSON.parse(line) as { occurredAt: string }).occurredAt)
    }
    return last
  }

  async function archiveAndRemove(tenantId: string, segmentNo: number, cutoff: Date, archive: AuditArchive): Promise<number> {
    const built = await db.withTenant(tenantId, (trx) => deps.segments.archive(trx, segmentNo))
    if (!(lastEntryAt(built.text) < cutoff.getTime())) return 0
    await archive.write(tenantId, segmentNo, built.text, built.archiveSha256)
    const { removedEntries } = await db.withTenant(tenantId, async (trx) => {
      const removed = await deps.segments.remove(trx, tenantId, segmentNo, built.archiveSha256)
      if (removed.removedEntries > 0) {
        await deps.auditLog.append(trx, tenantId, [
          serviceEvent(tenantId, 'audit_segment.removed', 'audit_segment', String(segmentNo), {
            removedEntries: removed.removedEntries,
            archiveSha256: built.archiveSha256,
            archive: archive.fileOf(tenantId, segmentNo).slice(archive.dir.length + 1),
          }),
        ])
      }
      return removed
    })
    return removedEntries
  }

  async function archiveAudit(tenantId: string, cutoff: Date, archive: AuditArchive): Promise<{ entries: number; segments: number }> {
    let entries = 0
    let segments = 0
    // First the segments sealed but never removed: a run cut short between the two, or an
    // admin's seal that has since passed the period.
    const pending = (await db.withTenant(tenantId, (trx) => deps.segments.list(trx))).filter((segment) => segment.removedAt === null)
    for (const segment of pending) {
      const removed = await archiveAndRemove(tenantId, segment.segmentNo, cutoff, archive)
      if (removed > 0) segments++
      entries += removed
      purgedTotal.inc({ kind: 'audit_entries' }, removed)
    }
    for (;;) {
      const sealed = await db.withTenant(tenantId, async (trx) => {
        const segment = await deps.segments.seal(trx, tenantId, cutoff.toISOString(), deps.segmentMaxEntries)
        if (segment) {
          await deps.auditLog.append(trx, tenantId, [serviceEvent(tenantId, 'audit_segment.sealed', 'audit_segment', String(segment.segmentNo), sealedImage(segment))])
        }
        return segment
      })
      if (!sealed) return { entries, segments }
      const removed = await archiveAndRemove(tenantId, sealed.segmentNo, cutoff, archive)
      if (removed === 0) return { entries, segments }
      segments++
      entries += removed
      purgedTotal.inc({ kind: 'audit_entries' }, removed)
    }
  }

  async function cleanTenant(plan: TenantRetentionPlan, runId: string, now: number) {
    const { tenantId, periods } = plan
    const held = { venueIds: plan.heldVenueIds, connectionIds: plan.heldConnectionIds }
    const syncLogs = await inBatches((limit) => db.withTenant(tenantId, (trx) => deps.syncLogs.purgeBatch(trx, tenantId, new Date(now - periods.syncLogs * DAY_MS), held, limit)), 'sync_logs')
    // Security events name no venue or connection: only a hold on the whole tenant keeps them.
    const securityEvents = await inBatches((limit) => db.withSystemScope((trx) => deps.securityEvents.purgeBatch(trx, tenantId, new Date(now - periods.securityEvents * DAY_MS), limit)), 'security_events')
    const audit = deps.archive && !auditChainHeld(plan) ? await archiveAudit(tenantId, auditLogCutoff(plan, now), deps.archive) : { entries: 0, segments: 0 }
    const counts = { syncLogs, securityEvents, auditEntries: audit.entries, auditSegments: audit.segments }
    // One entry per run in each tenant whose data it touched, with the counts and the policy applied.
    if (syncLogs + securityEvents + audit.entries > 0) {
      await db.withTenant(tenantId, (trx) => deps.auditLog.append(trx, tenantId, [serviceEvent(tenantId, 'retention.purged', 'retention_run', runId, { service: 'compliance-service', policyVersion: plan.policyVersion, ...counts })]))
    }
    return counts
  }

  async function runAll(now = Date.now()): Promise<RetentionRunResult> {
    const runId = randomUUID()
    await deps.storeKeys()
    const tenantIds = await db.withSystemScope(async (trx) => [...new Set([...(await deps.auditLog.tenantIds(trx)), ...(await deps.syncLogs.tenantIds(trx)), ...(await deps.securityEvents.tenantIds(trx))])].sort())
    const result: RetentionRunResult = { runId, tenants: tenantIds.length, heldTenants: 0, failedTenants: 0, purged: { syncLogs: 0, securityEvents: 0, auditEntries: 0 }, auditSegments: 0 }
    progress.set(0)
    let done = 0
    for (let i = 0; i < tenantIds.length; i += 500) {
      const plans = await deps.retention.plans(tenantIds.slice(i, i + 500))
      for (const plan of plans) {
        try {
          if (plan.tenantHeld) result.heldTenants++
          else {
            const counts = await cleanTenant(plan, runId, now)
            result.purged.syncLogs += counts.syncLogs
            result.purged.securityEvents += counts.securityEvents
            result.purged.auditEntries += counts.auditEntries
            result.auditSegments += counts.auditSegments
          }
        } catch (error) {
          result.failedTenants++
          failedTotal.inc()
          logger.warn({ tenantId: plan.tenantId, err: { message: (error as Error).message } }, 'retention clean-up of a tenant failed; it is tried again next run')
        }
        progress.set(++done / tenantIds.length)
      }
    }
    // Events of no tenant (refusals before anyone was identified) follow the default period.
    result.purged.securityEvents += await inBatches((limit) => db.withSystemScope((trx) => deps.securityEvents.purgeBatch(trx, null, new Date(now - RETENTION_DEFAULT_DAYS.securityEvents * DAY_MS), limit)), 'security_events')
    progress.set(1)
    lastRun.set(Date.now() / 1000)
    logger.info({ ...result }, 'retention run finished')
    return result
  }

  return createIntervalJob<RetentionRunResult, [now?: number]>({
    intervalMs: deps.intervalMs,
    pass: runAll,
    onError: (error) => logger.warn({ err: { message: (error as Error).message } }, 'retention run failed; next run at the next interval'),
  })
}

export type ComplianceRetentionJob = ReturnType<typeof createComplianceRetentionJob>
