// /api/v1/compliance/venues/:venueId/{sync-logs,report} — what auditors read, tenant-isolated.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Knex } from 'knex'
import { BadRequestError, ForbiddenError, NotFoundError } from '@hub/contracts'
import { CursorField, canReadVenue, encodeCursor, readCursor, type Principal } from '@hub/service-kit'
import { Problems, ReportQuery, ReportSchema, SyncLogListQuery, SyncLogListSchema, VenueParams } from '../../../../schemas/compliance.ts'
import { buildReport, reportCsv } from '../../../../plugins/app/report.ts'

const CursorSchema = Type.Object({ at: CursorField.timestamp(), id: CursorField.uuid() })
const REPORT_MAX_RUNS = 50_000
const tags = ['compliance']
const security = [{ bearerAuth: [] }]

class VenueNotFoundError extends NotFoundError {
  constructor() {
    super('VENUE_NOT_FOUND', 'No such venue in your tenant.')
  }
}

function checkVenue(principal: Principal, venueId: string): void {
  // A venue outside a scoped user's venue_ids looks exactly like one that does not exist.
  if (!canReadVenue(principal, venueId)) throw new VenueNotFoundError()
}

/**
 * Whether this tenant has a venue with this id, from compliance's own records (row-level security
 * scopes both to the tenant): venue-service audits every venue it creates, and every sync run names
 * its venue. A deleted venue stays known, so its history remains readable to auditors; a venue
 * created a moment ago becomes known once its audit event is relayed.
 */
async function requireKnownVenue(trx: Knex.Transaction, venueId: string): Promise<void> {
  const result = await trx.raw<{ rows: Array<{ known: boolean }> }>(
    `select exists (select 1 from compliance.sync_logs where venue_id = ?) or exists (select 1 from compliance.audit_log where entity_type = 'venue' and entity_id = ?) as known`,
    [venueId, venueId],
  )
  if (!result.rows[0]?.known) throw new VenueNotFoundError()
}

const syncLogRoutes: FastifyPluginAsyncTypebox<{ operatorTenantIds: string[] }> = async (fastify, opts) => {
  fastify.get(
    '/venues/:venueId/sync-logs',
    { schema: { tags, security, summary: "A venue's sync runs, newest first", params: VenueParams, querystring: SyncLogListQuery, response: { 200: SyncLogListSchema, ...Problems } } },
    async (request) => {
      const venueId = request.params.venueId.toLowerCase()
      checkVenue(request.principal, venueId)
      const { limit, cursor, ...filter } = request.query
      let before: { at: string; id: string } | undefined
      if (cursor) before = readCursor(cursor, CursorSchema)
      const rows = await fastify.db.withTenant(request.principal.tenantId, async (trx) => {
        await requireKnownVenue(trx, venueId)
        return fastify.syncLogStore.page(trx, { venueId, ...filter }, limit + 1, before)
      })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return { data: page, nextCursor: rows.length > limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null }
    },
  )

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
        await requireKnownVenue(trx, venueId)
        return fastify.syncLogStore.all(trx, { venueId, from, to }, REPORT_MAX_RUNS)
      })
      if (request.headers.accept?.includes('text/csv')) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="sync-report-${venueId}-${from.slice(0, 10)}-${to.slice(0, 10)}.csv"`)
          // The declared 200 schema is the JSON form; the CSV form is a plain string.
          .send(reportCsv(runs) as never)
      }
      return buildReport(venueId, from, to, runs)
    },
  )

  fastify.post(
    '/sync-logs/pull',
    {
      // The feed spans every tenant: only the operators (OPERATOR_TENANT_IDS; nobody when empty,
      // as for tenantless security events) may drive it, and the answer says that the pull ran,
      // not how many runs of other tenants it stored.
      schema: { tags, security, summary: 'Pull the sync-log feed now (operator admins)', response: { 204: Type.Null(), ...Problems, 503: Problems[400] } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => {
      if (!opts.operatorTenantIds.includes(request.principal.tenantId)) {
        throw new ForbiddenError('OPERATOR_ONLY', 'The sync-log pull is for the platform operators.')
      }
      await fastify.syncLogConsumer.pullOnce()
      return reply.code(204).send(null)
    },
  )
}

export default syncLogRoutes
