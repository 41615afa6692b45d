// Data-subject requests: an admin asks for one person's data (export) or for its erasure; the
// request is stored and audited (masked values only) at once, and a runner carries it out as a
// job with progress. Carrying it out twice gives the same outcome: the integration-service erase
// and the redaction here are idempotent, audit entries have fixed ids, and the first run's counts
// are kept when a run is repeated after a crash.
import { createHash } from 'node:crypto'
import type { Knex } from 'knex'
import { BadRequestError, ConflictError, NotFoundError, maskEmail, maskIdentifier, type AuditEventInput, type IntegrationClient, type SubjectIdentifiers, type SubjectMatch } from '@hub/contracts'
import { plausibleEmail, type Database, type RequestContext } from '@hub/service-kit'
import type { AuditLogStore } from '../audit-log-store.ts'
import type { CreateSubjectRequest, SubjectExport, SubjectRequestView } from '../../../schemas/subject-requests.ts'
import type { SubjectOwnData } from './subject-own-data.ts'
import type { SubjectRequestRepository, SubjectRequestRow } from './subject-request-repository.ts'

export interface SubjectRequestDeps {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  repository: SubjectRequestRepository
  ownData: SubjectOwnData
  audit: Pick<AuditLogStore, 'append'>
  integration: Pick<IntegrationClient, 'searchSubject' | 'eraseSubject'>
  leaseMs: number
}

export function toView(row: SubjectRequestRow): SubjectRequestView {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    subject: row.subject_masked,
    requestedBy: row.requested_by,
    progress: row.progress,
    step: row.step,
    attempts: row.attempts,
    outcome: row.outcome,
    errorCode: row.error_code,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at ? row.started_at.toISOString() : null,
    finishedAt: row.finished_at ? row.finished_at.toISOString() : null,
  }
}

export const maskSubject = (subject: SubjectIdentifiers): SubjectIdentifiers => ({ emails: subject.emails.map(maskEmail), externalIds: subject.externalIds.map(maskIdentifier) })

/** A fixed event id per (request, action): a repeated run appends nothing twice. */
function auditEventId(requestId: string, action: string): string {
  const hex = createHash('sha256').update(`${requestId}:${action}`).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/** The emails the person's own provider records carry (a request by provider id learns them here). */
function emailsOf(matches: SubjectMatch[]): string[] {
  const found: string[] = []
  for (const match of matches) {
    if (match.table !== 'records' || (match.key.entity !== 'customer' && match.key.entity !== 'contact')) continue
    const email = ((match.data as { data?: { email?: unknown } } | undefined)?.data ?? {}).email
    if (plausibleEmail(email)) found.push(email.trim().toLowerCase())
  }
  return found
}

export function createSubjectRequestService(deps: SubjectRequestDeps) {
  const { db, repository, ownData, audit, integration, leaseMs } = deps

  const audited = (
    row: Pick<SubjectRequestRow, 'id' | 'tenant_id' | 'type' | 'subject_masked'>,
    action: string,
    actor: { type: 'user' | 'service'; id: string; requestId: string | null; ip: string | null },
    after: Record<string, unknown>,
  ): AuditEventInput => ({
    id: auditEventId(row.id, action),
    tenantId: row.tenant_id,
    source: 'compliance-service',
    actorType: actor.type,
    actorId: actor.id,
    action,
    entityType: 'subject_request',
    entityId: row.id,
    before: null,
    after: { type: row.type, subject: row.subject_masked, ...after },
    requestId: actor.requestId,
    ip: actor.ip,
    occurredAt: new Date().toISOString(),
  })
  const runner = { type: 'service' as const, id: 'compliance-service', requestId: null, ip: null }

  async function step(row: SubjectRequestRow, progress: number, name: string, partial?: Record<string, unknown>): Promise<void> {
    await db.withTenant(row.tenant_id, async (trx) => {
      await repository.progress(trx, row.id, progress, name, leaseMs)
      if (partial) await repository.keepOutcome(trx, row.id, partial)
    })
  }

  async function runExport(row: SubjectRequestRow, subject: SubjectIdentifiers): Promise<void> {
    await step(row, 10, 'searching integration-service')
    const remote = await integration.searchSubject({ tenantId: row.tenant_id, subject, includeData: true })
    await step(row, 60, 'searching compliance-service')
    const emails = [...new Set([...subject.emails.map((email) => email.toLowerCase()), ...emailsOf(remote.matches)])]
    await db.withTenant(row.tenant_id, async (trx) => {
      const own = await ownData.search(trx, emails, true)
      const counts: Record<string, number> = {}
      for (const [table, count] of Object.entries(remote.counts)) counts[`integration.${table}`] = count
      for (const [table, count] of Object.entries(own.counts)) counts[`compliance.${table}`] = count
      const document: SubjectExport = {
        requestId: row.id,
        generatedAt: new Date().toISOString(),
        subject: { emails: subject.emails, externalIds: subject.externalIds, linkedExternalIds: remote.externalIds },
        counts,
        integration: remote.matches,
        compliance: own.matches,
      }
      const outcome = { found: counts }
      if (await repository.finish(trx, row.id, { status: 'succeeded', outcome, exportDocument: document })) await audit.append(trx, row.tenant_id, [audited(row, 'subject_request.completed', runner, outcome)])
    })
  }

  async function runErase(row: SubjectRequestRow, subject: SubjectIdentifiers): Promise<void> {
    await step(row, 10, 'finding the person in integration-service')
    // The person's emails as their records carry them: a request by provider id erases those too.
    const found = await integration.searchSubject({ tenantId: row.tenant_id, subject, includeData: true })
    const emails = [...new Set([...subject.emails.map((email) => email.toLowerCase()), ...emailsOf(found.matches)])]
    await step(row, 30, 'redacting in integration-service')
    const erased = await integration.eraseSubject({ tenantId: row.tenant_id, requestId: row.id, subject: { emails, externalIds: subject.externalIds } })
    // The first run's counts stay when a run is repeated (the repeat redacts nothing).
    await step(row, 70, 'redacting in compliance-service', { integration: erased.redacted, tombstones: erased.tombstones })
    await db.withTenant(row.tenant_id, async (trx) => {
      const own = await ownData.redact(trx, emails)
      const exportsCleared = await repository.clearExportsMentioning(trx, emails, row.id)
      const current = await repository.find(trx, row.id)
      const outcome = { ...(current?.outcome ?? {}), compliance: { ...own, exports_cleared: exportsCleared } }
      if (await repository.finish(trx, row.id, { status: 'succeeded', outcome })) await audit.append(trx, row.tenant_id, [audited(row, 'subject_request.completed', runner, outcome)])
    })
  }

  return {
    async create(ctx: RequestContext, body: CreateSubjectRequest): Promise<SubjectRequestView> {
      const subject: SubjectIdentifiers = { emails: body.email ? [body.email.trim().toLowerCase()] : [], externalIds: body.externalIds ?? [] }
      if (subject.emails.length === 0 && subject.externalIds.length === 0) throw new BadRequestError('SUBJECT_IDENTIFIER_REQUIRED', 'Name the person by `email` or `externalIds` (or both).')
      const tenantId = ctx.principal.tenantId
      return db.withTenant(tenantId, async (trx) => {
        const row = await repository.insert(trx, { tenantId, type: body.type, subject, masked: maskSubject(subject), requestedBy: ctx.principal.userId })
        await audit.append(trx, tenantId, [audited(row, 'subject_request.created', { type: 'user', id: ctx.principal.userId, requestId: ctx.requestId, ip: ctx.ip }, {})])
        return toView(row)
      })
    },

    async get(tenantId: string, id: string): Promise<SubjectRequestView> {
      const row = await db.withTenant(tenantId, (trx) => repository.find(trx, id))
      if (!row) throw new NotFoundError('SUBJECT_REQUEST_NOT_FOUND', 'No such subject request in this tenant.')
      return toView(row)
    },

    async list(tenantId: string, filter: { limit: number; before?: { at: string; id: string } }): Promise<SubjectRequestRow[]> {
      return db.withTenant(tenantId, (trx) => repository.list(trx, filter))
    },

    async exportDocument(tenantId: string, id: string): Promise<SubjectExport> {
      const found = await db.withTenant(tenantId, (trx) => repository.exportDocument(trx, id))
      if (!found) throw new NotFoundError('SUBJECT_REQUEST_NOT_FOUND', 'No such subject request in this tenant.')
      if (found.type !== 'export') throw new ConflictError('SUBJECT_REQUEST_NOT_EXPORT', 'This request is an erase; only an export has a document.')
      if (found.status !== 'succeeded') throw new ConflictError('SUBJECT_EXPORT_NOT_READY', `The export is ${found.status}; its document exists once it succeeded.`)
      if (found.document === null) throw new ConflictError('SUBJECT_EXPORT_ERASED', 'The person was erased after this export; its document was erased with them.')
      return found.document as SubjectExport
    },

    /**
     * Claims the oldest open request and carries it out; false when there was none. A failure
     * leaves the request leased until `retryMs`, then it is claimed again; after `maxAttempts`
     * it ends failed (its identifiers cleared, the error's code kept).
     */
    async runNext(options: { maxAttempts: number; retryMs: number; onError?: (error: unknown, row: SubjectRequestRow) => void }): Promise<boolean> {
      const row = await db.withSystemScope((trx: Knex.Transaction) => repository.claim(trx, leaseMs))
      if (!row) return false
      const subject = row.subject
      try {
        if (!subject) throw new Error('an open request without identifiers')
        if (row.type === 'export') await runExport(row, subject)
        else await runErase(row, subject)
      } catch (error) {
        options.onError?.(error, row)
        const code = (error as { code?: unknown }).code
        await db.withTenant(row.tenant_id, async (trx) => {
          if (row.attempts >= options.maxAttempts) {
            if (await repository.finish(trx, row.id, { status: 'failed', outcome: row.outcome, errorCode: typeof code === 'string' ? code : 'SUBJECT_REQUEST_FAILED' }))
              await audit.append(trx, row.tenant_id, [audited(row, 'subject_request.failed', runner, { attempts: row.attempts })])
          } else await repository.retryLater(trx, row.id, options.retryMs)
        })
      }
      return true
    },
  }
}

export type SubjectRequestService = ReturnType<typeof createSubjectRequestService>
