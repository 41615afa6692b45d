// The scheduled signing of every tenant's audit chain head (AUDIT_DIGEST_INTERVAL_MS, hourly by
// default). Each tenant is signed in its own transaction and scope, so one tenant's failure never
// stops the others; a head already signed is skipped, so replicas running the job together, or
// an admin's "sign now", cost a lock and a read, never a second digest of the same head.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Database } from '@hub/service-kit'
import type { AuditDigestStore } from './audit-digest-store.ts'
import { createIntervalJob } from './interval-job.ts'

export interface DigestJobLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

export function createAuditDigestJob(deps: { db: Pick<Database, 'withSystemScope' | 'withTenant'>; store: AuditDigestStore; registry: Registry; logger: DigestJobLogger; intervalMs: number }) {
  const { db, store, logger } = deps
  const signedTotal = new Counter({ name: 'compliance_audit_digests_signed_total', help: 'Audit chain heads signed', registers: [deps.registry] })
  const failedTotal = new Counter({ name: 'compliance_audit_digest_failures_total', help: 'Tenants whose head could not be signed in a run', registers: [deps.registry] })
  const lastRun = new Gauge({ name: 'compliance_audit_digest_last_run_timestamp_seconds', help: 'When the last signing run finished', registers: [deps.registry] })

  /** Tenants with a chain, walked through the (tenant_id, seq) index one tenant at a time. */
  async function tenants(): Promise<string[]> {
    return db.withSystemScope(async (trx) => {
      const result = await trx.raw<{ rows: Array<{ id: string }> }>(`
        with recursive t as (
          (select tenant_id as id from compliance.audit_log order by tenant_id limit 1)
          union all
          select (select tenant_id from compliance.audit_log where tenant_id > t.id order by tenant_id limit 1) from t where t.id is not null
        )
        select id from t where id is not null`)
      return result.rows.map((row) => row.id)
    })
  }

  // Public keys are stored before anything is signed with them, so every digest names a stored
  // key; done on first use rather than at start-up, so a database still starting delays no boot.
  let keysStored: Promise<void> | null = null
  function storeKeys(): Promise<void> {
    keysStored ??= db
      .withSystemScope((trx) => store.registerKeys(trx))
      .catch((error: unknown) => {
        keysStored = null
        throw error
      })
    return keysStored
  }

  /** Signs one tenant's head now; null when it was signed already or the chain is empty. */
  async function signTenant(tenantId: string) {
    await storeKeys()
    const digest = await db.withTenant(tenantId, (trx) => store.signHead(trx, tenantId))
    if (digest) signedTotal.inc()
    return digest
  }

  async function signAll(): Promise<{ tenants: number; signed: number; failed: number }> {
    await storeKeys()
    const all = await tenants()
    let signed = 0
    let failed = 0
    for (const tenantId of all) {
      try {
        if (await signTenant(tenantId)) signed++
      } catch (error) {
        failed++
        failedTotal.inc()
        logger.warn({ tenantId, err: { message: (error as Error).message } }, 'audit digest not signed')
      }
    }
    lastRun.set(Date.now() / 1000)
    return { tenants: all.length, signed, failed }
  }

  const job = createIntervalJob({
    intervalMs: deps.intervalMs,
    pass: signAll,
    onPass: (result) => {
      if (result.signed > 0 || result.failed > 0) logger.info(result, 'audit chain heads signed')
    },
    onError: (error) => logger.warn({ err: { message: (error as Error).message } }, 'audit digest run failed; next run at the next interval'),
  })

  return { ...job, signTenant, storeKeys }
}

export type AuditDigestJob = ReturnType<typeof createAuditDigestJob>
