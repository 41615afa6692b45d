// The rules of retention policies and legal holds: periods never under the hub's minimums,
// versions that only move forward, one active hold per scope, and an audit entry for every change
// (appended to the tenant's own chain in the same transaction; never a hold's free-text reason).
import { randomUUID } from 'node:crypto'
import type { Knex } from 'knex'
import { BadRequestError, ConflictError, NotFoundError, RETENTION_KINDS, RETENTION_MINIMUM_DAYS, type AuditEventInput, type LegalHoldScope, type RetentionPeriods, type TenantRetentionPlan } from '@hub/contracts'
import type { Database } from '@hub/service-kit'
import type { AuditLogStore } from '../audit-log-store.ts'
import { defaultPolicy, type LegalHold, type RetentionPolicy, type RetentionStore } from './retention-store.ts'

export class RetentionPeriodTooShortError extends BadRequestError {
  constructor(kind: string, minimumDays: number) {
    super('RETENTION_PERIOD_TOO_SHORT', `${kind} must be kept at least ${minimumDays} days.`, { kind, minimumDays })
  }
}

const DAY_MS = 86_400_000

/**
 * Whether the tenant's audit chain is kept whole: any active hold keeps it, whatever its scope. A
 * segment is a contiguous stretch of the chain, so one venue's or connection's entries cannot be
 * kept out of it. Both the clean-up run and an admin's seal or removal ask this.
 */
export const auditChainHeld = (plan: Pick<TenantRetentionPlan, 'tenantHeld' | 'heldVenueIds' | 'heldConnectionIds'>): boolean => plan.tenantHeld || plan.heldVenueIds.length > 0 || plan.heldConnectionIds.length > 0

/** Audit entries that happened before this instant are past the tenant's period (never under the hub's 365-day minimum). */
export const auditLogCutoff = (plan: Pick<TenantRetentionPlan, 'periods'>, now: number): Date => new Date(now - plan.periods.auditLog * DAY_MS)

export interface Actor {
  tenantId: string
  userId: string
  requestId: string
  ip: string
}

export function createRetentionService(deps: { db: Pick<Database, 'withTenant' | 'withSystemScope'>; store: RetentionStore; auditLog: Pick<AuditLogStore, 'append'> }) {
  const { db, store } = deps

  const audited = (actor: Actor, action: string, entityType: string, entityId: string, before: Record<string, unknown> | null, after: Record<string, unknown> | null): AuditEventInput => ({
    id: randomUUID(),
    tenantId: actor.tenantId,
    source: 'compliance-service',
    actorType: 'user',
    actorId: actor.userId,
    action,
    entityType,
    entityId,
    before,
    after,
    requestId: actor.requestId,
    ip: actor.ip,
    occurredAt: new Date().toISOString(),
  })

  const audit = (trx: Knex.Transaction, actor: Actor, event: AuditEventInput) => deps.auditLog.append(trx, actor.tenantId, [event])

  return {
    async policy(tenantId: string): Promise<RetentionPolicy> {
      return db.withTenant(tenantId, async (trx) => (await store.current(trx)) ?? defaultPolicy())
    },

    async versions(tenantId: string, limit: number): Promise<RetentionPolicy[]> {
      return db.withTenant(tenantId, (trx) => store.versions(trx, limit))
    },

    /**
     * Sets the periods given (the others keep their current value) as the next version. With
     * `expectedVersion`, refuses when someone else changed the policy since it was read.
     */
    async setPolicy(actor: Actor, change: Partial<RetentionPeriods>, expectedVersion?: number): Promise<RetentionPolicy> {
      for (const kind of RETENTION_KINDS) {
        const days = change[kind]
        if (days !== undefined && days < RETENTION_MINIMUM_DAYS[kind]) throw new RetentionPeriodTooShortError(kind, RETENTION_MINIMUM_DAYS[kind])
      }
      return db.withTenant(actor.tenantId, async (trx) => {
        // Writers of one tenant's policy take turns, so the next version is read, not guessed.
        await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`retention-policy:${actor.tenantId}`])
        const current = (await store.current(trx)) ?? defaultPolicy()
        if (expectedVersion !== undefined && expectedVersion !== current.version) {
          throw new ConflictError('RETENTION_POLICY_VERSION_CONFLICT', `The policy is at version ${current.version}, not ${expectedVersion}; read it again.`)
        }
        const periods = { ...current.periods, ...Object.fromEntries(Object.entries(change).filter(([, days]) => days !== undefined)) } as RetentionPeriods
        const next = await store.append(trx, actor.tenantId, current.version + 1, periods, actor.userId)
        await audit(trx, actor, audited(actor, 'retention_policy.updated', 'retention_policy', String(next.version), { version: current.version, ...current.periods }, { version: next.version, ...next.periods }))
        return next
      })
    },

    async holds(tenantId: string, filter: { active?: boolean; limit: number }): Promise<LegalHold[]> {
      return db.withTenant(tenantId, (trx) => store.listHolds(trx, filter))
    },

    /** Places a hold (an active one on the same scope is returned as it is, `created` false). */
    async placeHold(actor: Actor, input: { scope: LegalHoldScope; scopeId?: string | undefined; reason: string }): Promise<{ hold: LegalHold; created: boolean }> {
      const scopeId = input.scope === 'tenant' ? actor.tenantId : input.scopeId?.toLowerCase()
      if (!scopeId) throw new BadRequestError('LEGAL_HOLD_SCOPE_ID_REQUIRED', `A ${input.scope} hold names the ${input.scope} (scopeId).`)
      if (input.scope === 'tenant' && input.scopeId !== undefined && input.scopeId.toLowerCase() !== actor.tenantId) {
        throw new BadRequestError('LEGAL_HOLD_SCOPE_MISMATCH', 'A tenant hold is placed on your own tenant; leave scopeId out.')
      }
      return db.withTenant(actor.tenantId, async (trx) => {
        const placed = await store.placeHold(trx, { tenantId: actor.tenantId, scope: input.scope, scopeId, reason: input.reason, by: actor.userId })
        if (placed.created) await audit(trx, actor, audited(actor, 'legal_hold.placed', 'legal_hold', placed.hold.id, null, { scope: placed.hold.scope, scopeId: placed.hold.scopeId }))
        return placed
      })
    },

    /** Releases a hold; releasing a released hold changes nothing. */
    async releaseHold(actor: Actor, id: string): Promise<LegalHold> {
      return db.withTenant(actor.tenantId, async (trx) => {
        const hold = await store.findHold(trx, id, { forUpdate: true })
        if (!hold) throw new NotFoundError('LEGAL_HOLD_NOT_FOUND', 'No such legal hold in your tenant.')
        if (hold.releasedAt) return hold
        const released = await store.releaseHold(trx, id, actor.userId)
        if (!released) throw new ConflictError('LEGAL_HOLD_RELEASE_RACED', 'The hold changed while it was being released; read it again.')
        await audit(trx, actor, audited(actor, 'legal_hold.released', 'legal_hold', id, { scope: hold.scope, scopeId: hold.scopeId, releasedAt: null }, { scope: hold.scope, scopeId: hold.scopeId, releasedAt: released.releasedAt }))
        return released
      })
    },

    /** Periods and active holds of each tenant, for the clean-up jobs (internal route and this service's own job). */
    async plans(tenantIds: string[]) {
      if (tenantIds.length === 0) return []
      return db.withSystemScope((trx) => store.plans(trx, tenantIds))
    },
  }
}

export type RetentionService = ReturnType<typeof createRetentionService>
