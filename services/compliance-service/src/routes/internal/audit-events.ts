// POST /internal/audit-events — services' outbox relays deliver audit events here (idempotent by
// event id); each tenant's events are appended to its chain in one transaction.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AuditEventBatchResultSchema, AuditEventBatchSchema, ConflictError, INTERNAL_PERMISSIONS, ProblemSchema, type AuditEventInput } from '@hub/contracts'

const auditEventIntake: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/audit-events',
    {
      schema: { tags: ['internal'], hide: true, body: AuditEventBatchSchema, response: { 200: AuditEventBatchResultSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 409: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.auditEventsWrite } },
    },
    async (request) => {
      const { events } = request.body
      const byTenant = new Map<string, AuditEventInput[]>()
      for (const event of events) {
        const tenant = event.tenantId.toLowerCase()
        const batch = byTenant.get(tenant)
        if (batch) batch.push(event)
        else byTenant.set(tenant, [event])
      }
      let accepted = 0
      for (const [tenant, tenantEvents] of byTenant) {
        try {
          accepted += await fastify.db.withTenant(tenant, (trx) => fastify.auditLogStore.append(trx, tenant, tenantEvents))
        } catch (error) {
          // Only an event id already used by another tenant gets here: never a silent merge.
          if ((error as { code?: string }).code === '23505') throw new ConflictError('AUDIT_EVENT_CONFLICT', 'An event id in this batch was already recorded for another tenant.')
          throw error
        }
      }
      return { accepted, duplicates: events.length - accepted }
    },
  )
}

export default auditEventIntake
