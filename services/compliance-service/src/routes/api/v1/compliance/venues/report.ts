// /api/v1/compliance/venues/:venueId/report — a venue's sync report for a period (JSON or CSV), with
// the latest reconciliation status of its connections (JSON). Totals are the database's sums over
// every run of the period; the JSON lists failures up to REPORT_MAX_FAILURES (saying when there are
// more), and the CSV streams every run in batches, so memory stays bounded however many there are.
import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BadRequestError } from '@hub/contracts'
import { Problems, ReportQuery, ReportSchema, VenueParams } from '../../../../../schemas/compliance.ts'
import { FAILURE_STATUSES, REPORT_CSV_HEADER, buildReport, reportCsvLine } from '../../../../../plugins/app/report.ts'
import type { SyncLogPosition } from '../../../../../plugins/app/sync-log-store.ts'
import { checkVenue, requireKnownVenue } from '../../../../../plugins/app/venue-scope.ts'

const REPORT_MAX_FAILURES = 1_000
const CSV_BATCH = 1_000
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
        response: {
          200: { description: 'The report; the CSV has one line per run of the period, oldest first', content: { 'application/json': { schema: ReportSchema }, 'text/csv': { schema: Type.String() } } },
          ...Problems,
        },
      },
    },
    async (request, reply) => {
      const tenantId = request.principal.tenantId
      const venueId = request.params.venueId.toLowerCase()
      checkVenue(request.principal, venueId)
      const { from, to } = request.query
      if (Date.parse(from) >= Date.parse(to)) throw new BadRequestError('INVALID_PERIOD', '`from` must be before `to`.', { errors: [{ path: '/querystring/from', message: 'must be before to' }] })
      const filter = { venueId, from, to }
      if (request.headers.accept?.includes('text/csv')) {
        const batch = (after?: SyncLogPosition) => fastify.db.withTenant(tenantId, (trx) => fastify.syncLogStore.ascending(trx, filter, CSV_BATCH, after))
        // The venue check and the first batch are read before anything is sent, so a failure
        // there is still a clean problem document; later batches are read as the client takes them.
        const first = await fastify.db.withTenant(tenantId, async (trx) => {
          await requireKnownVenue(trx, stores, venueId)
          return fastify.syncLogStore.ascending(trx, filter, CSV_BATCH)
        })
        async function* lines(): AsyncGenerator<string> {
          yield REPORT_CSV_HEADER
          let page = first
          for (;;) {
            for (const run of page.runs) yield reportCsvLine(run)
            if (page.runs.length < CSV_BATCH || !page.next) return
            page = await batch(page.next)
          }
        }
        const body = Readable.from(lines())
        // After the headers an error can only cut the body short: the socket is destroyed, so the
        // client sees an incomplete response rather than a 200 that looks complete.
        body.once('error', (error) => {
          request.log.error({ err: { message: error.message } }, 'venue report CSV failed mid-stream')
          reply.raw.destroy(error)
        })
        return (
          reply
            .type('text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="sync-report-${venueId}-${from.slice(0, 10)}-${to.slice(0, 10)}.csv"`)
            // The declared 200 schema is the JSON form; the CSV form is a plain string.
            .send(body as never)
        )
      }
      const { totals, failures } = await fastify.db.withTenant(tenantId, async (trx) => {
        await requireKnownVenue(trx, stores, venueId)
        return {
          totals: await fastify.syncLogStore.totals(trx, filter),
          // One more than listed, to know whether the list stops short.
          failures: (await fastify.syncLogStore.ascending(trx, { ...filter, status: FAILURE_STATUSES }, REPORT_MAX_FAILURES + 1)).runs,
        }
      })
      // The venue's reconciliation status is integration-service's: asked now, over the signed
      // internal API. A report is still given when it cannot answer, saying so (null).
      const reconciliation = await fastify.integrationApi.venueReconciliation(tenantId, venueId, AbortSignal.timeout(RECONCILIATION_TIMEOUT_MS)).then(
        (status) => ({ entries: status.entries }),
        (err: unknown) => {
          request.log.warn({ err: { message: (err as Error).message } }, 'reconciliation status unavailable for the venue report')
          return null
        },
      )
      return { ...buildReport(venueId, from, to, totals, failures, REPORT_MAX_FAILURES), reconciliation }
    },
  )
}

export default venueReportRoutes
