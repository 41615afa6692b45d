// Security events: every security-relevant refusal, reported by whichever service refused it
// and kept by compliance-service (`POST /internal/security-events`).
import { Type, type Static } from '@sinclair/typebox'

export const SECURITY_EVENT_TYPES = ['AUTH_FAILURE', 'RATE_LIMIT', 'INVALID_SIGNATURE', 'REPLAY', 'FORBIDDEN', 'SUSPICIOUS_ACCESS'] as const
export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number]

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const
export type Severity = (typeof SEVERITIES)[number]

export const SecurityEventInputSchema = Type.Object({
  /** Idempotency key chosen by the reporter (a UUID). */
  id: Type.String({ format: 'uuid' }),
  type: Type.Union(SECURITY_EVENT_TYPES.map((t) => Type.Literal(t))),
  severity: Type.Union(SEVERITIES.map((s) => Type.Literal(s))),
  /** The service that refused the request. */
  source: Type.String({ minLength: 1, maxLength: 64 }),
  /** Stable refusal code, e.g. INTERNAL_AUTH_REPLAY. */
  code: Type.String({ minLength: 1, maxLength: 64 }),
  tenantId: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
  /**
   * Who tried, as proven: a user id from a verified token, a service whose signature held; null
   * when unknown or only claimed (a claim goes in `details`). Reporters fold repeats by it instead
   * of by IP, so it must never be a value the caller picks freely.
   */
  actor: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  ip: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
  method: Type.Optional(Type.String({ maxLength: 16 })),
  path: Type.Optional(Type.String({ maxLength: 2048 })),
  requestId: Type.Optional(Type.String({ maxLength: 128 })),
  /** Free-form context; never a secret or a signature. */
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  occurredAt: Type.String({ format: 'date-time' }),
  /**
   * Repeats folded into this event by the reporter (1 when absent). A reporter may send one id
   * again with a higher count while its window is open; the receiver keeps the highest.
   */
  count: Type.Optional(Type.Integer({ minimum: 1 })),
  firstSeenAt: Type.Optional(Type.String({ format: 'date-time' })),
  lastSeenAt: Type.Optional(Type.String({ format: 'date-time' })),
})
export type SecurityEventInput = Static<typeof SecurityEventInputSchema>

export const SecurityEventBatchSchema = Type.Object({
  events: Type.Array(SecurityEventInputSchema, { maxItems: 500 }),
})
export type SecurityEventBatch = Static<typeof SecurityEventBatchSchema>

/** Sends security events somewhere; implementations never throw and never block a response. */
export interface SecurityEventReporter {
  report(event: Omit<SecurityEventInput, 'id' | 'occurredAt'> & Partial<Pick<SecurityEventInput, 'id' | 'occurredAt'>>): void
}
