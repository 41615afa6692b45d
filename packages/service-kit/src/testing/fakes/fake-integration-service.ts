// A stand-in integration-service for tests of compliance-service: the sync-log contract of
// @hub/contracts (`GET /internal/sync-logs`, the change feed, and the per-venue page), served from
// runs a test records and changes in memory. Like the real feed, a run appears again after each
// change, `nextCursor` is always returned and an empty page means the reader is caught up.
import { randomUUID } from 'node:crypto'
import { INTERNAL_PERMISSIONS, ProblemSchema, SyncLogFeedQuery, SyncLogFeedSchema, VenueSyncLogPageSchema, VenueSyncLogsParams, VenueSyncLogsQuery, BadRequestError, type SyncLog } from '@hub/contracts'
import { createFakeService, type FakeService } from './fake-service.ts'

/** The real integration-service's permission table (services/integration-service/src/app.ts). */
export const INTEGRATION_SERVICE_PERMISSIONS = {
  'compliance-service': [INTERNAL_PERMISSIONS.syncLogsRead, INTERNAL_PERMISSIONS.integrationsRead],
  'venue-service': [INTERNAL_PERMISSIONS.syncTrigger, INTERNAL_PERMISSIONS.connectionsDisconnect],
} as const

export type NewRun = Pick<SyncLog, 'tenantId' | 'venueId'> & Partial<Omit<SyncLog, 'id' | 'tenantId' | 'venueId' | 'createdAt' | 'updatedAt'>>
export type RunChange = Partial<Omit<SyncLog, 'id' | 'tenantId' | 'venueId' | 'createdAt' | 'updatedAt' | 'counts'>> & { counts?: Partial<SyncLog['counts']> }

export interface FakeIntegrationService extends FakeService {
  /** A new run (queued, a scheduled incremental Square customer sync unless said otherwise). */
  recordRun(run: NewRun): SyncLog
  /** Changes a run: it moves to the end of the feed, as a changed row does. */
  changeRun(id: string, change: RunChange): SyncLog
}

const encode = (seq: number) => Buffer.from(JSON.stringify({ seq })).toString('base64url')
function decode(cursor: string | undefined): number {
  if (cursor === undefined) return 0
  try {
    const { seq } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { seq: unknown }
    if (typeof seq === 'number' && Number.isInteger(seq) && seq >= 0) return seq
  } catch {
    // falls through to the refusal
  }
  throw new BadRequestError('INVALID_CURSOR', 'The cursor is not one this service gave out.')
}

export async function createFakeIntegrationService(options: { redisPrefix: string }): Promise<FakeIntegrationService> {
  const runs = new Map<string, { log: SyncLog; seq: number }>()
  let seq = 0
  const save = (log: SyncLog) => {
    runs.set(log.id, { log, seq: ++seq })
    return log
  }
  // Each change a millisecond after the last, as rows written one after another are.
  let lastMs = 0
  const now = () => new Date((lastMs = Math.max(Date.now(), lastMs + 1))).toISOString()
  const ordered = () => [...runs.values()].sort((a, b) => a.seq - b.seq)

  const service = await createFakeService({
    service: 'integration-service',
    permissions: INTEGRATION_SERVICE_PERMISSIONS,
    redisPrefix: options.redisPrefix,
    routes: (app) => {
      const problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema }
      app.get('/internal/sync-logs', { schema: { querystring: SyncLogFeedQuery, response: { 200: SyncLogFeedSchema, ...problems } }, config: { internalAuth: { permission: INTERNAL_PERMISSIONS.syncLogsRead } } }, async (request) => {
        const after = decode(request.query.cursor)
        const page = ordered()
          .filter((run) => run.seq > after)
          .slice(0, request.query.limit)
        return { logs: page.map((run) => run.log), nextCursor: encode(page.at(-1)?.seq ?? after) }
      })
      app.get(
        '/internal/sync-logs/venue/:venueId',
        { schema: { params: VenueSyncLogsParams, querystring: VenueSyncLogsQuery, response: { 200: VenueSyncLogPageSchema, ...problems } }, config: { internalAuth: { permission: INTERNAL_PERMISSIONS.syncLogsRead } } },
        async (request) => {
          const after = decode(request.query.cursor)
          const since = request.query.since ? Date.parse(request.query.since) : undefined
          const page = ordered()
            .filter((run) => run.log.venueId === request.params.venueId.toLowerCase() && run.seq > after && (since === undefined || Date.parse(run.log.updatedAt) >= since))
            .slice(0, request.query.limit)
          return { venueId: request.params.venueId, logs: page.map((run) => run.log), nextCursor: page.length === request.query.limit ? encode(page.at(-1)?.seq ?? after) : null }
        },
      )
    },
  })

  const recordRun: FakeIntegrationService['recordRun'] = (run) => {
    const at = now()
    const { counts, ...rest } = run
    return save({
      id: randomUUID(),
      connectionId: randomUUID(),
      provider: 'square',
      entity: 'customer',
      mode: 'incremental',
      trigger: 'scheduled',
      queue: 'integration-normal',
      jobId: null,
      status: 'queued',
      startedAt: null,
      finishedAt: null,
      cursorBefore: null,
      cursorAfter: null,
      errorCode: null,
      errorMessage: null,
      ...rest,
      counts: { fetched: 0, created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0, ...counts },
      createdAt: at,
      updatedAt: at,
    })
  }
  const changeRun: FakeIntegrationService['changeRun'] = (id, change) => {
    const current = runs.get(id)?.log
    if (!current) throw new Error(`no run ${id} in the fake integration-service`)
    const { counts, ...rest } = change
    return save({ ...current, ...rest, counts: { ...current.counts, ...counts }, updatedAt: now() })
  }
  return Object.assign(service, { recordRun, changeRun })
}
