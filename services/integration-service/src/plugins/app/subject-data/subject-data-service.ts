// Data-subject requests on integration-service's side: find everything it holds about a person in
// a tenant (records of every provider and venue, stored webhook payloads, dead letters, sync-log
// errors), and erase it: personal fields redacted in place (ids, amounts and dates stay for the
// books), and tombstones stored so later syncs and webhooks keep the person redacted.
import { keyedHash, type KeyRing } from '@hub/crypto'
import { plausibleEmail, type Database } from '@hub/service-kit'
import type { SubjectEraseResult, SubjectIdentifiers, SubjectMatch, SubjectSearchResult } from '@hub/contracts'
import { contentHash, stableStringify } from '../sync/content-hash.ts'
import { normalizeEmail, redactText, redactValue } from './subject-redaction.ts'
import { TOMBSTONE_PURPOSE, tombstoneValue } from './subject-guard.ts'
import type { LinkedId, SubjectDataRepository, TombstoneRow } from './subject-data-repository.ts'
import type { Knex } from 'knex'

const same = (a: unknown, b: unknown): boolean => stableStringify(a) === stableStringify(b)

export function createSubjectDataService(deps: { db: Pick<Database, 'withTenant'>; ring: KeyRing; repository: SubjectDataRepository }) {
  const { db, ring, repository } = deps

  async function gather(trx: Knex.Transaction, subject: SubjectIdentifiers) {
    const emails = [...new Set(subject.emails.map(normalizeEmail))]
    const ids: LinkedId[] = await repository.linkedIds(trx, emails, [...new Set(subject.externalIds)])
    const records = await repository.findRecords(trx, emails, ids)
    // An id in the request, or of a customer found by email, also names the person's webhook events.
    const inbox = await repository.findInbox(trx, emails, ids)
    const deadLetters = emails.length > 0 ? await repository.findDeadLetters(trx, emails) : []
    const syncLogs = emails.length > 0 ? await repository.findSyncLogs(trx, emails) : []
    // The emails the person's own records carry (a request by provider id finds them here), so
    // every mention of them is redacted too.
    for (const row of records) {
      const email = (row.data as { email?: unknown } | null)?.email
      if ((row.entity === 'customer' || row.entity === 'contact') && plausibleEmail(email)) emails.push(normalizeEmail(email))
    }
    return { emails: [...new Set(emails)], ids, records, inbox, deadLetters, syncLogs }
  }

  return {
    async search(tenantId: string, subject: SubjectIdentifiers, includeData: boolean): Promise<SubjectSearchResult> {
      return db.withTenant(tenantId, async (trx) => {
        const found = await gather(trx, subject)
        const matches: SubjectMatch[] = [
          ...found.records.map((row) => ({
            table: 'records',
            key: { connectionId: row.connection_id, provider: row.provider, entity: row.entity, externalId: row.external_id, venueId: row.venue_id },
            ...(includeData ? { data: { data: row.data, raw: row.raw, deletedAt: row.deleted_at ? row.deleted_at.toISOString() : null } } : {}),
          })),
          ...found.inbox.map((row) => ({
            table: 'webhook_inbox',
            key: { id: row.id, connectionId: row.connection_id, provider: row.provider, eventType: row.event_type, externalId: row.external_id },
            ...(includeData ? { data: { payload: row.payload, lastError: row.last_error } } : {}),
          })),
          ...found.deadLetters.map((row) => ({ table: 'dead_letters', key: { id: row.id, queue: row.queue, jobName: row.job_name }, ...(includeData ? { data: { payload: row.payload, errorMessage: row.error_message } } : {}) })),
          ...found.syncLogs.map((row) => ({ table: 'sync_logs', key: { id: row.id }, ...(includeData ? { data: { errorMessage: row.error_message } } : {}) })),
        ]
        return {
          externalIds: [...new Set(found.ids.map((id) => id.externalId))],
          counts: { records: found.records.length, webhook_inbox: found.inbox.length, dead_letters: found.deadLetters.length, sync_logs: found.syncLogs.length },
          matches,
        }
      })
    },

    /**
     * Safe to repeat: a second call finds the rows already redacted and changes nothing. Three
     * steps, in an order that leaves no gap for a sync running meanwhile: the tombstones commit
     * first (every sync batch that starts after them stores the person redacted); then a barrier
     * waits for the batches that loaded the tombstones before they existed (they hold the shared
     * lock until they commit); then the rows are redacted. The barrier holds no row lock, and the
     * redaction holds no advisory lock, so neither can wait on a sync that waits on it.
     */
    async erase(tenantId: string, requestId: string, subject: SubjectIdentifiers): Promise<SubjectEraseResult> {
      const marked = await db.withTenant(tenantId, async (trx) => {
        const found = await gather(trx, subject)
        // Customer and contact ids only: a payment's own id names no person.
        const personIds = [...new Set([...subject.externalIds, ...found.ids.filter((id) => id.connectionId !== null).map((id) => id.externalId)])]
        const version = ring.currentVersion
        const tombstones: TombstoneRow[] = [
          ...found.emails.map((email) => ({ kind: 'email' as const, key_version: version, value_hash: keyedHash(ring, version, TOMBSTONE_PURPOSE, tombstoneValue('email', email)) })),
          ...personIds.map((id) => ({ kind: 'external_id' as const, key_version: version, value_hash: keyedHash(ring, version, TOMBSTONE_PURPOSE, tombstoneValue('external_id', id)) })),
        ]
        return { emails: found.emails, personIds, tombstones: await repository.addTombstones(trx, tenantId, requestId, tombstones) }
      })
      await db.withTenant(tenantId, (trx) => repository.awaitWritesInFlight(trx, tenantId))
      return db.withTenant(tenantId, async (trx) => {
        const found = await gather(trx, { emails: marked.emails, externalIds: marked.personIds })
        const redacted: Record<string, number> = { records: 0, webhook_inbox: 0, dead_letters: 0, sync_logs: 0 }
        for (const row of found.records) {
          // Every row found is about the person: its personal members go, and so does any mention of their email.
          const data = redactValue(row.data, found.emails)
          const raw = redactValue(row.raw, found.emails)
          if (same(data, row.data) && same(raw, row.raw)) continue
          await repository.updateRecord(trx, row, data, raw, contentHash(data, raw))
          redacted.records = (redacted.records ?? 0) + 1
        }
        for (const row of found.inbox) {
          const payload = redactValue(row.payload, found.emails)
          const lastError = redactText(row.last_error, found.emails)
          if (same(payload, row.payload) && lastError === row.last_error) continue
          await repository.updateInbox(trx, row.id, payload, lastError)
          redacted.webhook_inbox = (redacted.webhook_inbox ?? 0) + 1
        }
        for (const row of found.deadLetters) {
          const payload = redactValue(row.payload, found.emails)
          const errorMessage = redactText(row.error_message, found.emails)
          if (same(payload, row.payload) && errorMessage === row.error_message) continue
          await repository.updateDeadLetter(trx, row.id, payload, errorMessage)
          redacted.dead_letters = (redacted.dead_letters ?? 0) + 1
        }
        for (const row of found.syncLogs) {
          const errorMessage = redactText(row.error_message, found.emails)
          if (errorMessage === row.error_message) continue
          await repository.updateSyncLog(trx, row.id, errorMessage)
          redacted.sync_logs = (redacted.sync_logs ?? 0) + 1
        }
        return { redacted, tombstones: marked.tombstones }
      })
    },
  }
}

export type SubjectDataService = ReturnType<typeof createSubjectDataService>
