// /api/v1/venues/:id/members — who may manage or view a venue.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ListMembersQuery, MemberPageSchema, MemberParams, MemberSchema, PutMemberBody, VenueParams } from '@hub/contracts'
import { ProblemResponses } from '../../../../schemas/venue.ts'

const tags = ['venue members']
const security = [{ bearerAuth: [] }]

const memberRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const venues = fastify.venueService

  fastify.get('/:id/members', { schema: { tags, security, summary: 'List members of a venue, by user id', params: VenueParams, querystring: ListMembersQuery, response: { 200: MemberPageSchema, ...ProblemResponses } } }, async (request) =>
    venues.listMembers(request.caller, request.params.id, request.query),
  )

  fastify.put(
    '/:id/members/:userId',
    { schema: { tags, security, summary: 'Add a member or change their role', params: MemberParams, body: PutMemberBody, response: { 200: MemberSchema, ...ProblemResponses } }, config: { auth: { roles: ['admin', 'manager'] } } },
    async (request) => venues.putMember(request.caller, request.params.id, request.params.userId, request.body.role),
  )

  fastify.delete(
    '/:id/members/:userId',
    { schema: { tags, security, summary: 'Remove a member', params: MemberParams, response: { 204: Type.Null(), ...ProblemResponses } }, config: { auth: { roles: ['admin', 'manager'] } } },
    async (request, reply) => {
      await venues.removeMember(request.caller, request.params.id, request.params.userId)
      return reply.code(204).send(null)
    },
  )
}

export default memberRoutes
