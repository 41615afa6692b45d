// The one error shape every service answers with (RFC 9457 problem details plus a stable code).
import { Type, type Static } from '@sinclair/typebox'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export const ValidationIssueSchema = Type.Object({
  /** JSON pointer into the request part, e.g. `/body/name` or `/params/id`. */
  path: Type.String(),
  message: Type.String(),
})

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    code: Type.String(),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(ValidationIssueSchema)),
  },
  { additionalProperties: true },
)
export type Problem = Static<typeof ProblemSchema>
export type ValidationIssue = Static<typeof ValidationIssueSchema>

/**
 * Base of every error a service throws on purpose. The error-handler plugin turns it into a
 * problem document; anything that is not an AppError becomes an opaque 500.
 */
export class AppError extends Error {
  readonly statusCode: number
  readonly code: string
  readonly title: string
  /** Extra members merged into the problem document (never secrets). */
  readonly extra: Record<string, unknown> | undefined

  constructor(statusCode: number, code: string, title: string, detail?: string, extra?: Record<string, unknown>) {
    super(detail ?? title)
    this.name = new.target.name
    this.statusCode = statusCode
    this.code = code
    this.title = title
    this.extra = extra
  }
}

export class BadRequestError extends AppError {
  constructor(code: string, detail: string, extra?: Record<string, unknown>) {
    super(400, code, 'Bad Request', detail, extra)
  }
}

export class UnauthorizedError extends AppError {
  constructor(code: string, detail: string) {
    super(401, code, 'Unauthorized', detail)
  }
}

export class ForbiddenError extends AppError {
  constructor(code: string, detail: string) {
    super(403, code, 'Forbidden', detail)
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, detail: string) {
    super(404, code, 'Not Found', detail)
  }
}

export class ConflictError extends AppError {
  constructor(code: string, detail: string, extra?: Record<string, unknown>) {
    super(409, code, 'Conflict', detail, extra)
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(code: string, detail: string) {
    super(503, code, 'Service Unavailable', detail)
  }
}

const REPORTED = Symbol.for('venue-hub.security-event-reported')

/**
 * Marks a refusal whose security event its thrower already reported (with richer detail than the
 * error handler has), so the handler does not report it a second time.
 */
export function markReported<T extends Error>(error: T): T {
  Object.defineProperty(error, REPORTED, { value: true })
  return error
}

export function wasReported(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[REPORTED] === true
}

export function problemType(code: string): string {
  return `https://docs.venue-hub.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`
}
