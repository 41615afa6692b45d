// /api/v1/integrations/sync, /sync-logs, /records, /field-mappings — asking for syncs, following
// them, and reading what arrived.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { auditActor } from '@hub/service-kit'
import { assertVenueAccess } from '../../../plugins/app/connections/venue-access.ts'
import { JobNotFoundError } from '../../../plugins/app/sync/sync-errors.ts'
import { ProviderParams } from '../../../schemas/connection.ts'
import {
  CancelSchema,
  EnqueuedSchema,
  FieldMappingBody,
  FieldMappingListQuery,
  FieldMappingPageSchema,
  FieldMappingPatch,
  FieldMappingSchema,
  IdParams,
  JobParams,
  JobSchema,
  Problems,
  RecordListQuery,
  RecordPageSchema,
  SyncLogListQuery,
  SyncLogPageSchema,
  SyncRequestBody,
} from '../../../schemas/sync.ts'

const security = [{ bearerAuth: [] }]
const writers = { auth: { roles: ['admin' as const, 'manager' as const] } }

const syncRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const api = fastify.syncApi

  fastify.post(
    '/sync/:provider/sync',
    { schema: { tags: ['sync'], security, summary: "Sync a venue's connection now (one job per entity, on integration-high)", params: ProviderParams, body: SyncRequestBody, response: { 202: EnqueuedSchema, ...Problems } }, config: writers },
    async (request, reply) => reply.code(202).send(await api.requestSync(request.caller, request.params.provider, request.body)),
  )

  fastify.get('/sync/jobs/:id', { schema: { tags: ['sync'], security, summary: 'State and progress of a sync job', params: JobParams, response: { 200: JobSchema, ...Problems } } }, async (request) => {
    const job = await fastify.syncEngine.getJob(request.principal.tenantId, request.params.id, (venueId) => assertVenueAccess(request.principal, venueId, 'read', () => new JobNotFoundError()))
    return { ...job, data: { ...job.data } }
  })

  fastify.post(
    '/sync/jobs/:id/cancel',
    { schema: { tags: ['sync'], security, summary: 'Cancel a waiting or running job (it stops cleanly at its next checkpoint)', params: JobParams, response: { 200: CancelSchema, ...Problems } }, config: writers },
    async (request) => fastify.syncEngine.cancelJob(request.principal.tenantId, request.params.id, auditActor(request.caller), (venueId) => assertVenueAccess(request.principal, venueId, 'manage', () => new JobNotFoundError())),
  )

  fastify.get('/sync-logs', { schema: { tags: ['sync'], security, summary: 'Sync runs, newest first', querystring: SyncLogListQuery, response: { 200: SyncLogPageSchema, ...Problems } } }, async (request) =>
    api.listSyncLogs(request.caller, request.query),
  )

  fastify.get('/records', { schema: { tags: ['records'], security, summary: 'Synced records changed since a cursor, deletions included', querystring: RecordListQuery, response: { 200: RecordPageSchema, ...Problems } } }, async (request) =>
    api.listRecords(request.caller, request.query),
  )

  fastify.get('/field-mappings', { schema: { tags: ['field mappings'], security, summary: 'Field mappings of the tenant, by provider, entity and target field', querystring: FieldMappingListQuery, response: { 200: FieldMappingPageSchema, ...Problems } } }, async (request) =>
    api.listFieldMappings(request.caller, request.query),
  )

  fastify.post(
    '/field-mappings',
    { schema: { tags: ['field mappings'], security, summary: 'Map a provider field into records (triggers a full re-sync)', body: FieldMappingBody, response: { 201: FieldMappingSchema, ...Problems } }, config: { auth: { roles: ['admin'] } } },
    async (request, reply) => reply.code(201).send(await api.createFieldMapping(request.caller, request.body)),
  )

  fastify.patch(
    '/field-mappings/:id',
    { schema: { tags: ['field mappings'], security, summary: 'Change where a mapping reads from or how it transforms (triggers a full re-sync)', params: IdParams, body: FieldMappingPatch, response: { 200: FieldMappingSchema, ...Problems } }, config: { auth: { roles: ['admin'] } } },
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

export default syncRoutes
