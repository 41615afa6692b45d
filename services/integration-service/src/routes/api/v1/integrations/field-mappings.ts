// /api/v1/integrations/field-mappings — where provider fields land in records (a change re-syncs).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { FieldMappingBody, FieldMappingListQuery, FieldMappingPageSchema, FieldMappingPatch, FieldMappingSchema, IdParams, Problems } from '../../../../schemas/sync.ts'

const security = [{ bearerAuth: [] }]

const fieldMappingRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const api = fastify.syncApi

  fastify.get(
    '/field-mappings',
    { schema: { tags: ['field mappings'], security, summary: 'Field mappings of the tenant, by provider, entity and target field', querystring: FieldMappingListQuery, response: { 200: FieldMappingPageSchema, ...Problems } } },
    async (request) => api.listFieldMappings(request.caller, request.query),
  )

  fastify.post(
    '/field-mappings',
    {
      schema: { tags: ['field mappings'], security, summary: 'Map a provider field into records (triggers a full re-sync)', body: FieldMappingBody, response: { 201: FieldMappingSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => reply.code(201).send(await api.createFieldMapping(request.caller, request.body)),
  )

  fastify.patch(
    '/field-mappings/:id',
    {
      schema: {
        tags: ['field mappings'],
        security,
        summary: 'Change where a mapping reads from or how it transforms (triggers a full re-sync)',
        params: IdParams,
        body: FieldMappingPatch,
        response: { 200: FieldMappingSchema, ...Problems },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => api.updateFieldMapping(request.caller, request.params.id, request.body),
  )

  fastify.delete(
    '/field-mappings/:id',
    { schema: { tags: ['field mappings'], security, summary: 'Remove a field mapping (triggers a full re-sync)', params: IdParams, response: { 204: Type.Null(), ...Problems } }, config: { auth: { roles: ['admin'] } } },
    async (request, reply) => {
      await api.deleteFieldMapping(request.caller, request.params.id)
      return reply.code(204).send(null)
    },
  )
}

export default fieldMappingRoutes
