// /api/v1/compliance/audit-log — a tenant admin (an auditor) reads the tenant's audit log, newest
// first, exports a period of it as CSV, and has the hash chain recomputed to prove nothing in it
// was changed or removed.
import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BadRequestError } from '@hub/contracts'
import { CursorField, page, readCursor } from '@hub/service-kit'
import { toAuditEntry } from '../../../../../plugins/app/audit-log-store.ts'
import { csvCell } from '../../../../../plugins/app/report.ts'
import { EXPORT_FORMAT, type SignedDigest } from '../../../../../plugins/app/audit-chain.ts'
import { AuditChainVerificationSchema, AuditExportQuery, AuditLogListQuery, AuditLogListSchema, Problems } from '../../../../../schemas/compliance.ts'

const CursorSchema = Type.Object({ seq: CursorField.int64() })
const tags = ['audit log']
const security = [{ bearerAuth: [] }]
const EXPORT_BATCH = 1000
const EXPORT_COLUMNS = ['seq', 'occurred_at', 'recorded_at', 'source', 'actor_type', 'actor_id', 'action', 'entity_type', 'entity_id', 'request_id', 'ip', 'before', 'after', 'prev_hash', 'hash']
const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value))

const toEntry = toAuditEntry

const auditLogRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/audit-log',
    {
      schema: { tags, security, summary: "The caller's tenant's audit log, newest first", querystring: AuditLogListQuery, response: { 200: AuditLogListSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const { limit, cursor, entityType, entityId, action, actorId } = request.query
      const before = cursor ? readCursor(cursor, CursorSchema) : undefined
      const { rows, nextCursor } = await page(
        limit,
        (take) =>
          fastify.db.withTenant(request.principal.tenantId, (trx) =>
            fastify.auditLogStore.list(trx, {
              limit: take,
              ...(entityType ? { entityType } : {}),
              ...(entityId ? { entityId } : {}),
              ...(action ? { action } : {}),
              ...(actorId ? { actorId } : {}),
              ...(before ? { beforeSeq: before.seq } : {}),
            }),
          ),
        (last) => ({ seq: String(last.seq) }),
      )
      return { data: rows.map(toEntry), nextCursor }
    },
  )

  fastify.get(
    '/audit-log/export',
    {
      schema: {
        tags,
        security,
        summary: 'Every entry that happened in [from, to), oldest first, as CSV; or, as JSON lines with the signed digests, for offline verification',
        querystring: AuditExportQuery,
        response: {
          200: {
            description: 'CSV (RFC 4180, one header line first), or JSON lines (format=jsonl) that `npm run audit:verify` checks without the database',
            content: { 'text/csv': { schema: Type.String() }, 'application/x-ndjson': { schema: Type.String() } },
          },
          ...Problems,
        },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => {
      const { from, to, format } = request.query
      if (Date.parse(from) >= Date.parse(to)) throw new BadRequestError('INVALID_PERIOD', '`from` must be before `to`.', { errors: [{ path: '/querystring/from', message: 'must be before to' }] })
      const tenantId = request.principal.tenantId
      const db = fastify.db
      const store = fastify.auditLogStore
      if (format === 'jsonl') {
        // Read before anything is sent, as the CSV's first batch is. The newest digest first: the
        // head it names was written before the chain's head is read, so it is at or before that
        // head unless entries were removed since it was signed.
        const bounds = await db.withTenant(tenantId, async (trx) => ({
          newestDigest: await fastify.auditDigestStore.newest(trx, tenantId),
          chainHeadSeq: await store.headSeq(trx, tenantId),
          span: await store.seqSpan(trx, from, to),
        }))
        return sendJsonLines(streamed(jsonLines(tenantId, from, to, bounds)), `audit-log-${from.slice(0, 10)}-${to.slice(0, 10)}.jsonl`)
      }
      const batch = (afterSeq: string) => db.withTenant(tenantId, (trx) => store.range(trx, { from, to, afterSeq, limit: EXPORT_BATCH }))
      // The first batch is read before anything is sent, so a failure there is still a clean
      // problem document; later batches are read as the client takes them, so a long period never
      // sits in memory at once.
      const first = await batch('0')
      async function* lines(): AsyncGenerator<string> {
        yield `${EXPORT_COLUMNS.join(',')}\r\n`
        let rows = first
        for (;;) {
          for (const row of rows) {
            const entry = toEntry(row)
            yield `${[entry.seq, entry.occurredAt, entry.recordedAt, entry.source, entry.actorType, entry.actorId, entry.action, entry.entityType, entry.entityId, entry.requestId, entry.ip, json(entry.before), json(entry.after), entry.prevHash, entry.hash].map(csvCell).join(',')}\r\n`
          }
          if (rows.length < EXPORT_BATCH) return
          rows = await batch(String(rows.at(-1)?.seq))
        }
      }
      return (
        reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="audit-log-${from.slice(0, 10)}-${to.slice(0, 10)}.csv"`)
          // Streams go out as they are; the declared text/csv schema documents the body for OpenAPI.
          .send(streamed(lines()) as never)
      )

      function streamed(source: AsyncGenerator<string>): Readable {
        const body = Readable.from(source)
        // After the headers, an error can only cut the body short. The chunked body then never gets
        // its last chunk and the socket is destroyed, so the client sees an incomplete response
        // instead of a 200 that looks complete.
        body.once('error', (error) => {
          request.log.error({ err: { message: error.message } }, 'audit-log export failed mid-stream')
          reply.raw.destroy(error)
        })
        return body
      }

      function sendJsonLines(body: Readable, filename: string) {
        return reply
          .type('application/x-ndjson; charset=utf-8')
          .header('content-disposition', `attachment; filename="${filename}"`)
          .send(body as never)
      }
    },
  )

  /**
   * The JSON-lines export: a contiguous stretch of the chain (from the first entry that happened
   * in the period to the last, whatever happened in between, so every link can be checked), then
   * the digests signed over heads in that stretch, the tenant's newest digest wherever its head
   * lies, and the public keys they name. The header states the chain's head when exported
   * (`chainHeadSeq`): an export whose `lastSeq` is that head runs to the chain's end, so the
   * verifier fails a digest whose head lies past it (entries removed from the end); an export of
   * an earlier period legitimately ends before the newest digest's head.
   */
  async function* jsonLines(tenantId: string, from: string, to: string, bounds: { span: { firstSeq: string; lastSeq: string } | null; chainHeadSeq: string | null; newestDigest: SignedDigest | null }): AsyncGenerator<string> {
    const db = fastify.db
    const { span, chainHeadSeq, newestDigest } = bounds
    yield `${JSON.stringify({ type: 'header', format: EXPORT_FORMAT, kind: 'export', tenantId, from, to, exportedAt: new Date().toISOString(), firstSeq: span?.firstSeq ?? null, lastSeq: span?.lastSeq ?? null, chainHeadSeq })}\n`
    if (!span) return
    // Right after a removed segment, its checkpoint anchors the first entry's link.
    const anchor = await db.withTenant(tenantId, (trx) => fastify.auditLogStore.exportAnchor(trx, tenantId, span.firstSeq))
    if (anchor) yield `${JSON.stringify({ type: 'checkpoint', tenantId, throughSeq: String(anchor.through_seq), headHash: anchor.head_hash })}\n`
    let afterSeq = String(BigInt(span.firstSeq) - 1n)
    for (;;) {
      const rows = await db.withTenant(tenantId, (trx) => fastify.auditLogStore.stretch(trx, { afterSeq, throughSeq: span.lastSeq, limit: EXPORT_BATCH }))
      for (const row of rows) yield `${JSON.stringify({ type: 'entry', ...toEntry(row) })}\n`
      if (rows.length < EXPORT_BATCH) break
      afterSeq = String(rows.at(-1)?.seq)
    }
    // Digests signed while this was streaming are left out: only those read with the bounds are accounted for.
    const digests = newestDigest ? await db.withTenant(tenantId, (trx) => fastify.auditDigestStore.covering(trx, tenantId, span.firstSeq, span.lastSeq, newestDigest.digestNo)) : []
    if (newestDigest && digests.at(-1)?.digestNo !== newestDigest.digestNo) digests.push(newestDigest)
    for (const digest of digests) yield `${JSON.stringify({ type: 'digest', ...digest })}\n`
    const keyIds = [...new Set(digests.map((digest) => digest.keyId))]
    if (keyIds.length === 0) return
    const keys = await db.withSystemScope((trx) => fastify.auditDigestStore.publicKeys(trx, keyIds))
    for (const key of keys) yield `${JSON.stringify({ type: 'key', keyId: key.keyId, algorithm: key.algorithm, publicKeyPem: key.publicKeyPem })}\n`
  }

  fastify.get(
    '/audit-log/verify',
    {
      schema: { tags, security, summary: "Recompute the tenant's hash chain and name the first entry that does not fit, or the newest signed head it no longer holds", response: { 200: AuditChainVerificationSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const tenantId = request.principal.tenantId
      // The newest signed head is read first, so the chain read next must still hold it.
      return fastify.db.withTenant(tenantId, async (trx) => fastify.auditLogStore.verify(trx, tenantId, await fastify.auditDigestStore.newest(trx, tenantId)))
    },
  )
}

export default auditLogRoutes
