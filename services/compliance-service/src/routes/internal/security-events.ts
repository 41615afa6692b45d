// POST /internal/security-events — every service ships its refusals here, idempotent by id: a
// known id is a repeat delivery, or the same event with a grown count, which raises the stored one.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { INTERNAL_PERMISSIONS, ProblemSchema, SecurityEventBatchSchema } from '@hub/contracts'

const securityEventIntake: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/security-events',
    {
      schema: { tags: ['internal'], hide: true, body: SecurityEventBatchSchema, response: { 202: Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() }), 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.securityEventsWrite } },
    },
    async (request, reply) => {
      const { events } = request.body
      const accepted = await fastify.db.withSystemScope((trx) => fastify.securityEventStore.insertMany(trx, events))
      return reply.code(202).send({ accepted, duplicates: events.length - accepted })
    },
  )
}

export default securityEventIntake
