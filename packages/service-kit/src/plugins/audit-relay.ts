// Delivers the service's audit outbox to compliance-service through the kit's outbox relay.
import fp from 'fastify-plugin'
import { complianceClient, type AuditEventInput } from '@hub/contracts'
import { startOutboxRelay, type OutboxRelay } from '../outbox-relay.ts'

export type AuditRelay = OutboxRelay

declare module 'fastify' {
  interface FastifyInstance {
    auditRelay: AuditRelay
  }
}

export interface AuditRelayOptions {
  /** The outbox, schema-qualified (`venue.audit_outbox`). */
  table: string
  source: string
  complianceUrl: string
  /** Pause between deliveries; 0 runs no timer (callers flush). */
  intervalMs: number
  batchSize?: number
}

interface OutboxRow {
  id: string
  tenant_id: string
  actor_type: 'user' | 'service'
  actor_id: string
  action: string
  entity_type: string
  entity_id: string
  before: unknown
  after: unknown
  request_id: string | null
  ip: string | null
  occurred_at: Date
}

export default fp(
  async (fastify, opts: AuditRelayOptions) => {
    const compliance = complianceClient(fastify.internalClient(opts.complianceUrl))
    const toEvent = (row: OutboxRow): AuditEventInput => ({
      id: row.id,
      tenantId: row.tenant_id,
      source: opts.source,
      actorType: row.actor_type,
      actorId: row.actor_id,
      action: row.action,
      entityType: row.entity_type,
      entityId: row.entity_id,
      before: row.before ?? null,
      after: row.after ?? null,
      requestId: row.request_id,
      ip: row.ip,
      occurredAt: row.occurred_at.toISOString(),
    })
    const relay = startOutboxRelay<OutboxRow>(fastify, {
      kind: 'audit',
      table: opts.table,
      intervalMs: opts.intervalMs,
      ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
      deliver: async (rows) => {
        await compliance.recordAuditEvents({ events: rows.map(toEvent) })
      },
    })
    fastify.decorate('auditRelay', relay)
  },
  { name: '@hub/audit-relay', fastify: '5.x', dependencies: ['@hub/database', '@hub/internal', '@hub/metrics'] },
)
