// /api/v1/integrations/admin — operators: queue counts, pause/resume, dead letters, circuit
// breakers, and the bull-board dashboard. Queues are shared by every tenant, so the global controls
// are limited to admins of the operator tenants (OPERATOR_TENANT_IDS; any admin when unset);
// dead letters are per tenant.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { createBullBoard } from '@bull-board/api'
import { BullAdapter } from '@bull-board/api/bullAdapter'
import { FastifyAdapter } from '@bull-board/fastify'
import type { FastifyRequest } from 'fastify'
import { ForbiddenError, UuidString, Nullable } from '@hub/contracts'
import { auditActor, hasRole, sendProblem } from '@hub/service-kit'
import { Problems } from '../../../../schemas/sync.ts'
import { ConnectionNotFoundError } from '../../../../plugins/app/connections/connection-errors.ts'

const BOARD_PATH = '/api/v1/integrations/admin/queues'
const security = [{ bearerAuth: [] }]
const tags = ['operations']
const admins = { auth: { roles: ['admin' as const] } }
const QueueParams = Type.Object({ name: Type.String({ pattern: '^[a-z-]{1,40}$' }) }, { additionalProperties: false })
const IdParams = Type.Object({ id: UuidString }, { additionalProperties: false })
const ConnectionParams = Type.Object({ connectionId: UuidString }, { additionalProperties: false })
const QueueCountsSchema = Type.Object({ queue: Type.String(), key: Type.String(), paused: Type.Boolean(), waiting: Type.Integer(), active: Type.Integer(), delayed: Type.Integer(), completed: Type.Integer(), failed: Type.Integer() })
const DeadLetterSchema = Type.Object({
  id: Type.String(),
  queue: Type.String(),
  jobName: Type.String(),
  jobId: Nullable(Type.String()),
  payload: Type.Record(Type.String(), Type.Unknown(), { description: 'The job data: ids only' }),
  errorCode: Nullable(Type.String()),
  errorMessage: Nullable(Type.String()),
  attempts: Type.Integer(),
  failedAt: Type.String(),
  retriedAt: Nullable(Type.String()),
  discardedAt: Nullable(Type.String()),
})
const BreakerSchema = Type.Object({
  connectionId: Type.String(),
  tenantId: Nullable(Type.String()),
  provider: Nullable(Type.String()),
  state: Type.String(),
  failures: Type.Integer(),
  openedAt: Nullable(Type.String()),
  openUntil: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
})

const adminRoutes: FastifyPluginAsyncTypebox<{ operatorTenantIds: string[] }> = async (fastify, opts) => {
  const engine = fastify.syncEngine
  const requireOperator = (request: FastifyRequest) => {
    if (!hasRole(request.principal, 'admin')) throw new ForbiddenError('INSUFFICIENT_ROLE', 'This action needs the admin role.')
    if (opts.operatorTenantIds.length > 0 && !opts.operatorTenantIds.includes(request.principal.tenantId)) {
      throw new ForbiddenError('OPERATOR_ONLY', 'Queue controls are for the platform operators.')
    }
  }

  fastify.get('/admin/queue-counts', { schema: { tags, security, summary: 'Jobs per queue and state', response: { 200: Type.Object({ queues: Type.Array(QueueCountsSchema) }), ...Problems } }, config: admins }, async (request) => {
    requireOperator(request)
    return { queues: await engine.queueCounts() }
  })

  for (const action of ['pause', 'resume'] as const) {
    fastify.post(
      `/admin/queue-control/:name/${action}`,
      { schema: { tags, security, summary: `${action === 'pause' ? 'Pause' : 'Resume'} a queue`, params: QueueParams, response: { 204: Type.Null(), ...Problems } }, config: admins },
      async (request, reply) => {
        requireOperator(request)
        await (action === 'pause' ? engine.pauseQueue(request.params.name, auditActor(request.caller)) : engine.resumeQueue(request.params.name, auditActor(request.caller)))
        return reply.code(204).send(null)
      },
    )
  }

  fastify.get(
    '/admin/dead-letters',
    {
      schema: {
        tags,
        security,
        summary: "Jobs of the caller's tenant that exhausted their attempts",
        querystring: Type.Object({ cursor: Type.Optional(Type.String({ maxLength: 512 })), limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ data: Type.Array(DeadLetterSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...Problems },
      },
      config: admins,
    },
    async (request) => {
      const page = await engine.listDeadLetters(request.principal.tenantId, request.query.cursor ?? null, request.query.limit)
      return { data: page.items.map((item) => ({ ...item, payload: { ...item.payload } })), nextCursor: page.nextCursor }
    },
  )

  fastify.post(
    '/admin/dead-letters/:id/retry',
    {
      schema: { tags, security, summary: 'Put a dead-lettered job back on its queue', params: IdParams, response: { 202: Type.Object({ deadLetterId: Type.String(), jobId: Type.String(), queue: Type.String() }), ...Problems } },
      config: admins,
    },
    async (request, reply) => reply.code(202).send(await engine.retryDeadLetter(request.principal.tenantId, request.params.id, auditActor(request.caller))),
  )

  fastify.delete('/admin/dead-letters/:id', { schema: { tags, security, summary: 'Discard a dead-lettered job', params: IdParams, response: { 204: Type.Null(), ...Problems } }, config: admins }, async (request, reply) => {
    await engine.discardDeadLetter(request.principal.tenantId, request.params.id, auditActor(request.caller))
    return reply.code(204).send(null)
  })

  fastify.get(
    '/admin/circuit-breakers',
    { schema: { tags, security, summary: "Circuit breaker per connection of the caller's tenant", response: { 200: Type.Object({ breakers: Type.Array(BreakerSchema) }), ...Problems } }, config: admins },
    async (request) => ({
      breakers: await engine.breakerStates(request.principal.tenantId),
    }),
  )

  fastify.post(
    '/admin/circuit-breakers/:connectionId/reset',
    { schema: { tags, security, summary: 'Close a circuit breaker now', params: ConnectionParams, response: { 200: Type.Object({ connectionId: Type.String(), reset: Type.Boolean() }), ...Problems } }, config: admins },
    async (request) => {
      const connection = await fastify.db.withTenant(request.principal.tenantId, (trx) => fastify.connections.findById(trx, request.params.connectionId))
      // Another tenant's connection looks exactly like one that does not exist.
      if (!connection) throw new ConnectionNotFoundError()
      return engine.resetBreaker(request.params.connectionId, auditActor(request.caller))
    },
  )

  // The dashboard, in its own encapsulated scope: every page and API call needs an operator admin.
  // It is read-only. Its mutations (pause, resume, clean, retry, remove, promote, …) would bypass
  // the audit trail and act on every tenant's jobs at once; each change an operator needs has an
  // audited route above (queue-control, dead-letter retry and discard), so the board only shows.
  await fastify.register(async (board) => {
    board.addHook('onRequest', async (request, reply) => {
      if (request.authFailure) throw request.authFailure
      requireOperator(request)
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        // Answered here: errors thrown in this scope would reach bull-board's own error handler.
        return sendProblem(reply, { title: 'Method Not Allowed', status: 405, code: 'QUEUE_DASHBOARD_READ_ONLY', detail: 'The queue dashboard is read-only; use the audited queue-control and dead-letter routes.' })
      }
    })
    const serverAdapter = new FastifyAdapter()
    serverAdapter.setBasePath(BOARD_PATH)
    createBullBoard({ queues: Object.values(engine.queues).map((queue) => new BullAdapter(queue, { readOnlyMode: true })), serverAdapter, options: { uiConfig: { boardTitle: 'Venue Hub queues' } } })
    await board.register(serverAdapter.registerPlugin(), { prefix: '/admin/queues' })
  })
}

export default adminRoutes
