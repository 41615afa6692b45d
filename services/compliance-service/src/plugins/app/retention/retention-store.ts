// The repository of retention policies (append-only versions) and legal holds (placed, released).
import type { Knex } from 'knex'
import { RETENTION_DEFAULT_DAYS, type LegalHoldScope, type RetentionPeriods } from '@hub/contracts'

interface PolicyRow {
  tenant_id: string
  version: number
  disconnected_records_days: number
  webhook_payloads_days: number
  sync_logs_days: number
  security_events_days: number
  audit_log_days: number
  changed_by: string
  changed_at: Date
}

interface HoldRow {
  id: string
  tenant_id: string
  scope: LegalHoldScope
  scope_id: string
  reason: string
  placed_by: string
  placed_at: Date
  released_by: string | null
  released_at: Date | null
}

const periodsOf = (row: PolicyRow): RetentionPeriods => ({
  disconnectedRecords: row.disconnected_records_days,
  webhookPayloads: row.webhook_payloads_days,
  syncLogs: row.sync_logs_days,
  securityEvents: row.security_events_days,
  auditLog: row.audit_log_days,
})

export interface RetentionPolicy {
  version: number
  periods: RetentionPeriods
  changedBy: string | null
  changedAt: string | null
}

export const toPolicy = (row: PolicyRow): RetentionPolicy => ({ version: row.version, periods: periodsOf(row), changedBy: row.changed_by, changedAt: row.changed_at.toISOString() })

/** A tenant that never set a policy: version 0, the defaults. */
export const defaultPolicy = (): RetentionPolicy => ({ version: 0, periods: { ...RETENTION_DEFAULT_DAYS }, changedBy: null, changedAt: null })

export const toHold = (row: HoldRow) => ({
  id: row.id,
  scope: row.scope,
  scopeId: row.scope_id,
  reason: row.reason,
  placedBy: row.placed_by,
  placedAt: row.placed_at.toISOString(),
  releasedBy: row.released_by,
  releasedAt: row.released_at ? row.released_at.toISOString() : null,
})
export type LegalHold = ReturnType<typeof toHold>

export function createRetentionStore() {
  const policies = (trx: Knex.Transaction) => trx<PolicyRow>('compliance.retention_policies')
  const holds = (trx: Knex.Transaction) => trx<HoldRow>('compliance.legal_holds')

  /** Every tenant's current periods and active holds, for the clean-up jobs (system scope). */
  async function plans(trx: Knex.Transaction, tenantIds: string[]) {
    const latest = (await policies(trx)
      .distinctOn('tenant_id')
      .whereIn('tenant_id', tenantIds)
      .orderBy([{ column: 'tenant_id' }, { column: 'version', order: 'desc' }])) as PolicyRow[]
    const active = (await holds(trx).whereIn('tenant_id', tenantIds).whereNull('released_at').select('tenant_id', 'scope', 'scope_id')) as Array<Pick<HoldRow, 'tenant_id' | 'scope' | 'scope_id'>>
    const policyOf = new Map(latest.map((row) => [row.tenant_id, row]))
    return tenantIds.map((tenantId) => {
      const row = policyOf.get(tenantId)
      const mine = active.filter((hold) => hold.tenant_id === tenantId)
      return {
        tenantId,
        policyVersion: row?.version ?? 0,
        periods: row ? periodsOf(row) : { ...RETENTION_DEFAULT_DAYS },
        tenantHeld: mine.some((hold) => hold.scope === 'tenant'),
        heldVenueIds: mine.filter((hold) => hold.scope === 'venue').map((hold) => hold.scope_id),
        heldConnectionIds: mine.filter((hold) => hold.scope === 'connection').map((hold) => hold.scope_id),
      }
    })
  }

  return {
    /** The tenant's current policy row (row-level security scopes it), or null when none was ever set. */
    async current(trx: Knex.Transaction): Promise<RetentionPolicy | null> {
      const row = await policies(trx).orderBy('version', 'desc').first()
      return row ? toPolicy(row) : null
    },

    async versions(trx: Knex.Transaction, limit: number): Promise<RetentionPolicy[]> {
      return (await policies(trx).orderBy('version', 'desc').limit(limit)).map(toPolicy)
    },

    /** Appends a version; a concurrent writer of the same version loses on the primary key. */
    async append(trx: Knex.Transaction, tenantId: string, version: number, periods: RetentionPeriods, by: string): Promise<RetentionPolicy> {
      const [row] = await policies(trx)
        .insert({
          tenant_id: tenantId,
          version,
          disconnected_records_days: periods.disconnectedRecords,
          webhook_payloads_days: periods.webhookPayloads,
          sync_logs_days: periods.syncLogs,
          security_events_days: periods.securityEvents,
          audit_log_days: periods.auditLog,
          changed_by: by,
        })
        .returning('*')
      return toPolicy(row as PolicyRow)
    },

    async listHolds(trx: Knex.Transaction, filter: { active?: boolean; limit: number }): Promise<LegalHold[]> {
      const query = holds(trx).select('*')
      if (filter.active === true) query.whereNull('released_at')
      if (filter.active === false) query.whereNotNull('released_at')
      return (
        await query
          .orderBy([
            { column: 'placed_at', order: 'desc' },
            { column: 'id', order: 'desc' },
          ])
          .limit(filter.limit)
      ).map(toHold)
    },

    async findHold(trx: Knex.Transaction, id: string, options: { forUpdate?: boolean } = {}): Promise<LegalHold | null> {
      const query = holds(trx).where({ id })
      if (options.forUpdate) query.forUpdate()
      const row = await query.first()
      return row ? toHold(row) : null
    },

    /** Places a hold, or returns the active one on the same scope (`created` false). */
    async placeHold(trx: Knex.Transaction, hold: { tenantId: string; scope: LegalHoldScope; scopeId: string; reason: string; by: string }): Promise<{ hold: LegalHold; created: boolean }> {
      const [row] = await holds(trx)
        .insert({ tenant_id: hold.tenantId, scope: hold.scope, scope_id: hold.scopeId, reason: hold.reason, placed_by: hold.by })
        .onConflict(trx.raw('(tenant_id, scope, scope_id) where released_at is null'))
        .ignore()
        .returning('*')
      if (row) return { hold: toHold(row as HoldRow), created: true }
      const active = await holds(trx).where({ scope: hold.scope, scope_id: hold.scopeId }).whereNull('released_at').first()
      if (!active) throw new Error('a hold conflicted and then vanished')
      return { hold: toHold(active), created: false }
    },

    async releaseHold(trx: Knex.Transaction, id: string, by: string): Promise<LegalHold | null> {
      const [row] = await holds(trx).where({ id }).whereNull('released_at').update({ released_at: trx.fn.now(), released_by: by }).returning('*')
      return row ? toHold(row as HoldRow) : null
    },

    /** One tenant's current periods and active holds, read in the caller's transaction (its tenant scope will do). */
    async plan(trx: Knex.Transaction, tenantId: string) {
      const [plan] = await plans(trx, [tenantId])
      if (!plan) throw new Error('a retention plan is made for every tenant asked about')
      return plan
    },

    plans,
  }
}

export type RetentionStore = ReturnType<typeof createRetentionStore>
