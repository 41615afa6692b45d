// /api/v1/venues — the public venue API (through the gateway).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { CreateVenueBody, ListVenuesQuery, UpdateVenueBody, VenuePageSchema, VenueParams, VenueSchema } from '@hub/contracts'
import { ProblemResponses } from '../../../../schemas/venue.ts'

const tags = ['venues']
const security = [{ bearerAuth: [] }]

const venueRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const venues = fastify.venueService

  fastify.get('/', { schema: { tags, security, summary: 'List venues', querystring: ListVenuesQuery, response: { 200: VenuePageSchema, ...ProblemResponses } } }, async (request) => venues.list(request.caller, request.query))

  fastify.post('/', { schema: { tags, security, summary: 'Create a venue (admin)', body: CreateVenueBody, response: { 201: VenueSchema, ...ProblemResponses } }, config: { auth: { roles: ['admin'] } } }, async (request, reply) => {
    const venue = await venues.create(request.caller, request.body)
    return reply.code(201).header('location', `/api/v1/venues/${venue.id}`).send(venue)
  })

  fastify.get('/:id', { schema: { tags, security, summary: 'Get a venue', params: VenueParams, response: { 200: VenueSchema, ...ProblemResponses } } }, async (request) => venues.get(request.caller, request.params.id))

  fastify.patch(
    '/:id',
    { schema: { tags, security, summary: 'Change a venue (admin, or a manager of it)', params: VenueParams, body: UpdateVenueBody, response: { 200: VenueSchema, ...ProblemResponses } }, config: { auth: { roles: ['admin', 'manager'] } } },
    async (request) => venues.update(request.caller, request.params.id, request.body),
  )

  fastify.post('/:id/archive', { schema: { tags, security, summary: 'Archive a venue', params: VenueParams, response: { 200: VenueSchema, ...ProblemResponses } }, config: { auth: { roles: ['admin', 'manager'] } } }, async (request) =>
    venues.setArchived(request.caller, request.params.id, true),
  )

  fastify.post(
    '/:id/restore',
    { schema: { tags, security, summary: 'Restore an archived venue', params: VenueParams, response: { 200: VenueSchema, ...ProblemResponses } }, config: { auth: { roles: ['admin', 'manager'] } } },
    async (request) => venues.setArchived(request.caller, request.params.id, false),
  )

  fastify.delete('/:id', { schema: { tags, security, summary: 'Delete a venue (admin)', params: VenueParams, response: { 204: Type.Null(), ...ProblemResponses } }, config: { auth: { roles: ['admin'] } } }, async (request, reply) => {
    await venues.delete(request.caller, request.params.id)
    return reply.code(204).send(null)
  })
}

export default venueRoutes
