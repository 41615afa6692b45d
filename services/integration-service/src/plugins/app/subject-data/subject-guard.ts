// Keeps an erased person erased: before a sync or a webhook stores provider data, the data is
// checked against the tenant's tombstones (keyed hashes of erased emails and provider ids) and a
// match is stored redacted, so a person the provider still holds comes back without their details.
import type { Knex } from 'knex'
import { keyedHash, type KeyRing } from '@hub/crypto'
import { contentHash } from '../sync/content-hash.ts'
import type { RecordInput, RecordRepository } from '../sync/record-repository.ts'
import type { NewInboxEvent, WebhookInboxRepository } from '../webhooks/webhook-inbox-repository.ts'
import { emailsIn, normalizeEmail, redactValue } from './subject-redaction.ts'
import type { SubjectDataRepository, TombstoneRow } from './subject-data-repository.ts'

export const TOMBSTONE_PURPOSE = 'subject-tombstone'

export type TombstoneKind = TombstoneRow['kind']

export function tombstoneValue(kind: TombstoneKind, value: string): string {
  return `${kind}:${kind === 'email' ? normalizeEmail(value) : value}`
}

/** One tenant's tombstones, ready to test values against. */
export interface TombstoneSet {
  readonly empty: boolean
  has(kind: TombstoneKind, value: string): boolean
}

export function createSubjectGuard(deps: { ring: KeyRing; repository: Pick<SubjectDataRepository, 'tombstonesForWrite'> }) {
  const { ring, repository } = deps

  async function load(trx: Knex.Transaction, tenantId: string): Promise<TombstoneSet> {
    const rows = await repository.tombstonesForWrite(trx, tenantId)
    if (rows.length === 0) return { empty: true, has: () => false }
    const versions = [...new Set(rows.map((row) => row.key_version))]
    // Fail closed: a tombstone whose key left the ring could no longer be recognised.
    const missing = versions.filter((version) => !ring.has(version))
    if (missing.length > 0) throw new Error(`subject tombstones use key versions ${missing.join(', ')}, which ENCRYPTION_KEYS no longer holds`)
    const hashes = new Set(rows.map((row) => `${row.kind}:${row.key_version}:${row.value_hash}`))
    return {
      empty: false,
      has: (kind, value) => versions.some((version) => hashes.has(`${kind}:${version}:${keyedHash(ring, version, TOMBSTONE_PURPOSE, tombstoneValue(kind, value))}`)),
    }
  }

  /** The erased emails a value mentions (empty when it is about no erased person). */
  function erasedEmails(set: TombstoneSet, value: unknown): string[] {
    return emailsIn(value).filter((email) => set.has('email', email))
  }

  return {
    load,

    /** A sync's batch, with every record about an erased person redacted (and its hash recomputed). */
    async records(trx: Knex.Transaction, scope: { tenantId: string; entity: string }, rows: RecordInput[]): Promise<RecordInput[]> {
      if (rows.length === 0) return rows
      const set = await load(trx, scope.tenantId)
      if (set.empty) return rows
      return rows.map((row) => {
        const data = row.data as Record<string, unknown> | null
        const customerId = data && typeof data === 'object' && typeof data.customerExternalId === 'string' ? data.customerExternalId : null
        const emails = erasedEmails(set, [row.data, row.raw])
        const byId = ((scope.entity === 'customer' || scope.entity === 'contact') && set.has('external_id', row.externalId)) || (customerId !== null && set.has('external_id', customerId))
        if (emails.length === 0 && !byId) return row
        const redactedData = redactValue(row.data, emails)
        const redactedRaw = redactValue(row.raw, emails)
        return { externalId: row.externalId, data: redactedData, raw: redactedRaw, hash: contentHash(redactedData, redactedRaw) }
      })
    },

    /** Webhook events about to be stored, with the payload of any about an erased person redacted. */
    async inboxEvents(trx: Knex.Transaction, events: NewInboxEvent[]): Promise<NewInboxEvent[]> {
      const first = events[0]
      if (!first) return events
      const set = await load(trx, first.tenantId)
      if (set.empty) return events
      return events.map((event) => {
        const emails = erasedEmails(set, event.payload)
        const byId = event.externalId !== null && set.has('external_id', event.externalId)
        return emails.length === 0 && !byId ? event : { ...event, payload: redactValue(event.payload, emails) }
      })
    },
  }
}

export type SubjectGuard = ReturnType<typeof createSubjectGuard>

/** The records repository with the tombstone check in front of every batch it stores. */
export function guardRecordWrites<R extends Pick<RecordRepository, 'upsertBatch'>>(records: R, guard: Pick<SubjectGuard, 'records'>): R {
  return { ...records, upsertBatch: async (trx, scope, input, seenBy) => records.upsertBatch(trx, scope, await guard.records(trx, scope, input), seenBy) }
}

/** The inbox repository with the tombstone check in front of every webhook it stores. */
export function guardInboxWrites<R extends Pick<WebhookInboxRepository, 'insertNew'>>(inbox: R, guard: Pick<SubjectGuard, 'inboxEvents'>): R {
  return { ...inbox, insertNew: async (trx, events) => inbox.insertNew(trx, await guard.inboxEvents(trx, events)) }
}
