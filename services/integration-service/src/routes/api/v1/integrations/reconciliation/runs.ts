// /api/v1/integrations/reconciliation/runs — reconciliation runs: request one, list them, read one
// with its mismatches page by page, and repair what a run found (admins).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Problems } from '../../../../../schemas/sync.ts'
import { RepairResultSchema, RunDetailSchema, RunItemsQuery, RunListQuery, RunListSchema, RunParams, RunRequestBody, RunsCreatedSchema } from '../../../../../schemas/reconciliation.ts'

const security = [{ bearerAuth: [] }]
const tags = ['reconciliation']
const writers = { auth: { roles: ['admin' as const, 'manager' as const] } }
const admins = { auth: { roles: ['admin' as const] } }

const reconciliationRunRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const api = fastify.reconciliation

  fastify.post(
    '/reconciliation/runs',
    {
      schema: { tags, security, summary: "Reconcile a venue's connection now (one run per entity, on integration-normal; quick runs on integration-low)", body: RunRequestBody, response: { 202: RunsCreatedSchema, ...Problems } },
      config: writers,
    },
    async (request, reply) => reply.code(202).send(await api.createRuns(request.caller, request.body)),
  )

  fastify.get('/reconciliation/runs', { schema: { tags, security, summary: 'Reconciliation runs, newest first', querystring: RunListQuery, response: { 200: RunListSchema, ...Problems } } }, async (request) =>
    api.listRuns(request.caller, request.query),
  )

  fastify.get(
    '/reconciliation/runs/:id',
    { schema: { tags, security, summary: 'A reconciliation run with its mismatches (paginated)', params: RunParams, querystring: RunItemsQuery, response: { 200: RunDetailSchema, ...Problems } } },
    async (request) => api.getRun(request.caller, request.params.id, request.query),
  )

  fastify.post(
    '/reconciliation/runs/:id/repair',
    {
      schema: { tags, security, summary: "Re-fetch exactly the run's mismatched records from the provider, write them as a sync would, and re-check them", params: RunParams, response: { 200: RepairResultSchema, ...Problems } },
      config: admins,
    },
    async (request) => api.repair(request.caller, request.params.id),
  )
}

export default reconciliationRunRoutes
