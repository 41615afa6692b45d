// /api/v1/compliance/retention/holds — legal holds: while one is active on the tenant, a venue or
// a connection, no clean-up removes anything under it. Placing and releasing are audited.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Problems } from '../../../../../schemas/compliance.ts'
import { LegalHoldBody, LegalHoldListQuery, LegalHoldListSchema, LegalHoldParams, LegalHoldSchema } from '../../../../../schemas/retention.ts'
import { actorOf } from './policy.ts'

const tags = ['retention']
const security = [{ bearerAuth: [] }]

const legalHoldRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/retention/holds',
    {
      schema: { tags, security, summary: "The tenant's legal holds, newest first (`active` filters)", querystring: LegalHoldListQuery, response: { 200: LegalHoldListSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => ({ data: await fastify.retentionService.holds(request.principal.tenantId, request.query) }),
  )

  fastify.post(
    '/retention/holds',
    {
      schema: {
        tags,
        security,
        summary: 'Place a legal hold on the tenant, a venue or a connection (an active hold on the same scope is returned with 200)',
        body: LegalHoldBody,
        response: { 201: LegalHoldSchema, 200: LegalHoldSchema, ...Problems },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => {
      const { hold, created } = await fastify.retentionService.placeHold(actorOf(request), request.body)
      return reply.code(created ? 201 : 200).send(hold)
    },
  )

  fastify.post(
    '/retention/holds/:id/release',
    {
      schema: { tags, security, summary: 'Release a legal hold (releasing it again changes nothing)', params: LegalHoldParams, response: { 200: LegalHoldSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => fastify.retentionService.releaseHold(actorOf(request), request.params.id.toLowerCase()),
  )
}

export default legalHoldRoutes
