// /api/v1/integrations/connections — a venue's provider accounts (credentials shown masked only).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ConnectionPageSchema, ConnectionParams, ConnectionSchema, CreateConnectionBody, ListConnectionsQuery, Problems, TestResultSchema, UpdateConnectionBody } from '../../../../schemas/connection.ts'

const tags = ['connections']
const security = [{ bearerAuth: [] }]
const writers = { auth: { roles: ['admin' as const, 'manager' as const] } }

const connectionRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const service = fastify.connectionService

  fastify.get('/connections', { schema: { tags, security, summary: 'List connections', querystring: ListConnectionsQuery, response: { 200: ConnectionPageSchema, ...Problems } } }, async (request) =>
    service.list(request.caller, request.query),
  )

  fastify.post(
    '/connections',
    { schema: { tags, security, summary: 'Connect a venue to a provider with an API key', body: CreateConnectionBody, response: { 201: ConnectionSchema, ...Problems } }, config: writers },
    async (request, reply) => {
      const connection = await service.create(request.caller, request.body)
      return reply.code(201).header('location', `/api/v1/integrations/connections/${connection.id}`).send(connection)
    },
  )

  fastify.get('/connections/:id', { schema: { tags, security, summary: 'Get a connection', params: ConnectionParams, response: { 200: ConnectionSchema, ...Problems } } }, async (request) => service.get(request.caller, request.params.id))

  fastify.patch(
    '/connections/:id',
    { schema: { tags, security, summary: 'Replace credentials or the webhook secret', params: ConnectionParams, body: UpdateConnectionBody, response: { 200: ConnectionSchema, ...Problems } }, config: writers },
    async (request) => service.update(request.caller, request.params.id, request.body),
  )

  fastify.delete(
    '/connections/:id',
    { schema: { tags, security, summary: 'Disconnect: revoke at the provider and destroy the credentials', params: ConnectionParams, response: { 204: Type.Null(), ...Problems } }, config: writers },
    async (request, reply) => {
      await service.disconnect(request.caller, request.params.id)
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/connections/:id/test',
    { schema: { tags, security, summary: 'Verify the stored credentials with the provider', params: ConnectionParams, response: { 200: TestResultSchema, ...Problems } }, config: writers },
    async (request) => service.test(request.caller, request.params.id),
  )
}

export default connectionRoutes
