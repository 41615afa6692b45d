// A stand-in compliance-service for tests of the services that report to it: it takes security
// events and audit events on the @hub/contracts intake routes, signed and permitted as the real
// service requires, and keeps them as the real store does (one row per event id; for security
// events the highest count seen), so a test can say what arrived and that nothing arrived twice.
import { AuditEventBatchResultSchema, AuditEventBatchSchema, ConflictError, INTERNAL_PERMISSIONS, ProblemSchema, SecurityEventBatchSchema, type AuditEventInput, type SecurityEventInput } from '@hub/contracts'
import { Type } from '@sinclair/typebox'
import { createFakeService, type FakeService } from './fake-service.ts'

/** Who may write what on the real compliance-service (services/compliance-service/src/app.ts). */
export const COMPLIANCE_SERVICE_PERMISSIONS = {
  'api-gateway': [INTERNAL_PERMISSIONS.securityEventsWrite],
  'venue-service': [INTERNAL_PERMISSIONS.securityEventsWrite, INTERNAL_PERMISSIONS.auditEventsWrite],
  'integration-service': [INTERNAL_PERMISSIONS.securityEventsWrite, INTERNAL_PERMISSIONS.auditEventsWrite],
} as const

export interface FakeComplianceService extends FakeService {
  /** Stored security events by id (the highest count of each). */
  securityEvents: ReadonlyMap<string, SecurityEventInput>
  /** Stored audit events by id. */
  auditEvents: ReadonlyMap<string, AuditEventInput>
  /** How many times each security event id was delivered (a redelivery is not an error, only counted). */
  deliveries: ReadonlyMap<string, number>
}

export async function createFakeComplianceService(options: { redisPrefix: string }): Promise<FakeComplianceService> {
  const securityEvents = new Map<string, SecurityEventInput>()
  const auditEvents = new Map<string, AuditEventInput>()
  const deliveries = new Map<string, number>()
  const problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema }

  const service = await createFakeService({
    service: 'compliance-service',
    permissions: COMPLIANCE_SERVICE_PERMISSIONS,
    redisPrefix: options.redisPrefix,
    routes: (app) => {
      app.post(
        '/internal/security-events',
        {
          schema: { body: SecurityEventBatchSchema, response: { 202: Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() }), ...problems } },
          config: { internalAuth: { permission: INTERNAL_PERMISSIONS.securityEventsWrite } },
        },
        async (request, reply) => {
          let accepted = 0
          for (const event of request.body.events) {
            deliveries.set(event.id, (deliveries.get(event.id) ?? 0) + 1)
            const known = securityEvents.get(event.id)
            if (!known) accepted++
            if (!known || (event.count ?? 1) > (known.count ?? 1)) securityEvents.set(event.id, event)
          }
          return reply.code(202).send({ accepted, duplicates: request.body.events.length - accepted })
        },
      )
      app.post(
        '/internal/audit-events',
        { schema: { body: AuditEventBatchSchema, response: { 200: AuditEventBatchResultSchema, ...problems, 409: ProblemSchema } }, config: { internalAuth: { permission: INTERNAL_PERMISSIONS.auditEventsWrite } } },
        async (request) => {
          // An event id already kept for another tenant is never merged (the real store refuses it whole).
          if (request.body.events.some((event) => auditEvents.has(event.id) && auditEvents.get(event.id)?.tenantId !== event.tenantId)) {
            throw new ConflictError('AUDIT_EVENT_CONFLICT', 'An event with this id belongs to another tenant.')
          }
          let accepted = 0
          for (const event of request.body.events) {
            if (auditEvents.has(event.id)) continue
            auditEvents.set(event.id, event)
            accepted++
          }
          return { accepted, duplicates: request.body.events.length - accepted }
        },
      )
    },
  })
  return Object.assign(service, { securityEvents, auditEvents, deliveries })
}
