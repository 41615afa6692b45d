// /api/v1/compliance/venues/:venueId/report — a venue's sync report for a period (JSON or CSV), with
// the latest reconciliation status of its connections (JSON).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BadRequestError } from '@hub/contracts'
import { Problems, ReportQuery, ReportSchema, VenueParams } from '../../../../../schemas/compliance.ts'
import { buildReport, reportCsv } from '../../../../../plugins/app/report.ts'
import { checkVenue, requireKnownVenue } from '../../../../../plugins/app/venue-scope.ts'

const REPORT_MAX_RUNS = 50_000
const RECONCILIATION_TIMEOUT_MS = 5_000
const tags = ['compliance']
const security = [{ bearerAuth: [] }]

const venueReportRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const stores = { syncLogs: fastify.syncLogStore, auditLog: fastify.auditLogStore }
  fastify.get(
    '/venues/:venueId/report',
    {
      schema: {
        tags,
        security,
        summary: 'Sync report for a period (JSON, or CSV with Accept: text/csv)',
        params: VenueParams,
        querystring: ReportQuery,
        response: { 200: { description: 'The report', content: { 'application/json': { schema: ReportSchema }, 'text/csv': { schema: Type.String() } } }, ...Problems },
      },
    },
    async (request, reply) => {
      const venueId = request.params.venueId.toLowerCase()
      checkVenue(request.principal, venueId)
      const { from, to } = request.query
      if (Date.parse(from) >= Date.parse(to)) throw new BadRequestError('INVALID_PERIOD', '`from` must be before `to`.', { errors: [{ path: '/querystring/from', message: 'must be before to' }] })
      const runs = await fastify.db.withTenant(request.principal.tenantId, async (trx) => {
        await requireKnownVenue(trx, stores, venueId)
        return fastify.syncLogStore.all(trx, { venueId, from, to }, REPORT_MAX_RUNS)
      })
      if (request.headers.accept?.includes('text/csv')) {
        return (
          reply
            .type('text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="sync-report-${venueId}-${from.slice(0, 10)}-${to.slice(0, 10)}.csv"`)
            // The declared 200 schema is the JSON form; the CSV form is a plain string.
            .send(reportCsv(runs) as never)
        )
      }
      // The venue's reconciliation status is integration-service's: asked now, over the signed
      // internal API. A report is still given when it cannot answer, saying so (null).
      const reconciliation = await fastify.integrationApi.venueReconciliation(request.principal.tenantId, venueId, AbortSignal.timeout(RECONCILIATION_TIMEOUT_MS)).then(
        (status) => ({ entries: status.entries }),
        (err: unknown) => {
          request.log.warn({ err: { message: (err as Error).message } }, 'reconciliation status unavailable for the venue report')
          return null
        },
      )
      return { ...buildReport(venueId, from, to, runs), reconciliation }
    },
  )
}

export default venueReportRoutes
