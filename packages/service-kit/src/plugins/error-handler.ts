// The one place errors become HTTP: AppErrors keep their status and code, validation errors list
// every issue, framework 4xx keep their meaning, a dependency that is down is a 503, and anything
// else is an opaque 500 (logged, never shown, so driver messages and stack traces cannot leak). A
// 403 is a security-relevant refusal: unless its thrower already reported it, it becomes a
// FORBIDDEN security event here.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isConnectionError } from './database.ts'
import { AppError, PROBLEM_CONTENT_TYPE, problemType, wasReported, type Problem, type SecurityEventReporter, type ValidationIssue } from '@hub/contracts'
import { InternalCallError } from '@hub/internal-auth'

/**
 * Fastify's own refusals, each with a fixed detail: their messages can quote the URL or the
 * body, which a problem must not echo back.
 */
export const FRAMEWORK_CODES: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE', detail: 'The request body is too large.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', detail: 'This route does not accept that content type.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_CONTENT_LENGTH', detail: 'The body does not match its Content-Length.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', detail: 'The body is empty but its content type is JSON.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON', detail: 'The body is not valid JSON.' },
  FST_ERR_CTP_EMPTY_TYPE: { status: 400, code: 'MISSING_CONTENT_TYPE', detail: 'The Content-Type header is empty.' },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, code: 'INVALID_CONTENT_TYPE', detail: 'The Content-Type header is not valid.' },
  FST_ERR_BAD_URL: { status: 400, code: 'BAD_URL', detail: 'The URL is not validly percent-encoded.' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'URI_TOO_LONG', detail: 'A path segment is too long.' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'BAD_REQUEST', detail: 'The request could not be routed.' },
}

export function frameworkProblem(known: { status: number; code: string; detail: string }): Omit<Problem, 'requestId'> {
  return { type: problemType(known.code), title: TITLES[known.status] ?? 'Bad Request', status: known.status, detail: known.detail, code: known.code }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export function sendProblem(reply: FastifyReply, problem: Omit<Problem, 'type' | 'requestId'> & { type?: string }): FastifyReply {
  const body: Problem = { type: problem.type ?? problemType(problem.code), ...problem, requestId: String(reply.request.id) }
  // A problem is never shaped like the route's success schema: serialize it as it is.
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).serializer(JSON.stringify).send(body)
}

const clip = (value: string, max: number): string => (value.length > max ? `${value.slice(0, max)}…` : value)

function validationIssues(error: FastifyError): ValidationIssue[] {
  const context = error.validationContext ?? 'body'
  return (error.validation ?? []).map((issue) => {
    const params = issue.params as Record<string, unknown>
    let path = `/${context}${issue.instancePath}`
    if (typeof params.missingProperty === 'string') path += `/${params.missingProperty}`
    if (typeof params.additionalProperty === 'string') path += `/${params.additionalProperty}`
    return { path, message: issue.message ?? 'is invalid' }
  })
}

export function toProblem(error: FastifyError | AppError | Error, request: FastifyRequest): Omit<Problem, 'requestId'> {
  if (error instanceof AppError) {
    return { ...(error.extra ?? {}), type: problemType(error.code), title: error.title, status: error.statusCode, detail: error.message, code: error.code }
  }
  const fastifyError = error as FastifyError
  if (fastifyError.validation) {
    const errors = validationIssues(fastifyError)
    return {
      type: problemType('VALIDATION_FAILED'),
      title: 'Bad Request',
      status: 400,
      detail: `The request is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
      code: 'VALIDATION_FAILED',
      errors,
    }
  }
  const known = fastifyError.code ? FRAMEWORK_CODES[fastifyError.code] : undefined
  if (known) return frameworkProblem(known)
  if (isConnectionError(error) || (error instanceof InternalCallError && error.unavailable)) {
    // A dependency that is down (the database, or another service of the hub unreachable, timing
    // out or failing) is a 503 the client may retry, not a bug.
    request.log.error({ err: { message: error.message, code: fastifyError.code } }, 'dependency unavailable')
    return { type: problemType('DEPENDENCY_UNAVAILABLE'), title: 'Service Unavailable', status: 503, detail: 'A backing service is unavailable; retry shortly.', code: 'DEPENDENCY_UNAVAILABLE' }
  }
  const status = fastifyError.statusCode ?? 500
  if (status >= 400 && status < 500) {
    const code = status === 429 ? 'RATE_LIMITED' : (fastifyError.code ?? `HTTP_${status}`)
    return { type: problemType(code), title: TITLES[status] ?? 'Client Error', status, detail: fastifyError.message, code }
  }
  request.log.error({ err: error }, 'unhandled error')
  return { type: problemType('INTERNAL_ERROR'), title: 'Internal Server Error', status: 500, detail: 'An unexpected error occurred.', code: 'INTERNAL_ERROR' }
}

function reportForbidden(request: FastifyRequest, service: string, code: string): void {
  const reporter = (request.server as { securityEvents?: SecurityEventReporter }).securityEvents
  const principal = (request as { principal?: { tenantId: string; userId: string } | null }).principal
  reporter?.report({
    type: 'FORBIDDEN',
    severity: 'low',
    source: service,
    code,
    tenantId: principal?.tenantId ?? null,
    actor: principal?.userId ?? null,
    ip: request.ip,
    method: request.method,
    path: request.url.split('?')[0] ?? request.url,
    requestId: String(request.id),
  })
}

export default fp(
  async (fastify, opts: { service: string }) => {
    fastify.setErrorHandler((error, request, reply) => {
      const problem = toProblem(error as FastifyError, request)
      if (problem.status >= 400 && problem.status < 500 && !(request as { quietLog?: boolean }).quietLog) request.log.info({ code: problem.code, status: problem.status }, 'request refused')
      if (problem.status === 403 && !wasReported(error)) reportForbidden(request, opts.service, problem.code)
      // A refusal the client should simply repeat says when (a dependency down is a 503, not a hang).
      if ((problem.status === 429 || problem.status === 503) && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '1')
      // The rest of a refused body may still be on its way: hang up rather than read it.
      if (problem.status === 413) reply.header('connection', 'close')
      return sendProblem(reply, problem)
    })
    fastify.setNotFoundHandler((request, reply) => sendProblem(reply, { title: 'Not Found', status: 404, code: 'ROUTE_NOT_FOUND', detail: `No route ${request.method} ${clip(request.url.split('?')[0] ?? '', 200)}` }))
  },
  { name: '@hub/error-handler', fastify: '5.x' },
)
