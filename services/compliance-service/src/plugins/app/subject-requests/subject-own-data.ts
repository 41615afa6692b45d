// What compliance-service itself holds about a person: its copy of sync runs (an error message may
// quote a provider's answer), security events (details a service reported), and the audit log —
// searched, and for the first two redacted in place. The audit log is append-only and is never
// redacted: every writer masks emails before an entry is chained (audit-log-store.ts), and the
// search proves it by finding nothing; a hit is reported in the request's outcome, not hidden.
import type { Knex } from 'knex'
import { mentionBindings, mentionsSql, replaceEmailMentions } from '@hub/service-kit'

export interface OwnMatch {
  table: string
  key: Record<string, string | null>
  data?: unknown
}

/** Rows whose text mentions one of the emails as a whole address (email-mentions.ts). */
const MENTIONS = mentionsSql

export const REDACTED = '[redacted]'

/** Free text with each of the (lower-case) emails replaced. */
export function redactEmails(text: string | null, emails: readonly string[]): string | null {
  return text === null ? null : replaceEmailMentions(text, emails, REDACTED)
}

function redactJson(value: unknown, emails: readonly string[]): unknown {
  if (typeof value === 'string') return redactEmails(value, emails)
  if (Array.isArray(value)) return value.map((inner) => redactJson(inner, emails))
  if (value && typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>
    for (const [key, inner] of Object.entries(value)) out[redactEmails(key, emails) as string] = redactJson(inner, emails)
    return out
  }
  return value
}

export function createSubjectOwnData() {
  async function syncLogs(trx: Knex.Transaction, emails: string[]) {
    return ((await trx.raw(`select id, error_message from compliance.sync_logs s where ${MENTIONS('s.error_message')}`, mentionBindings(emails))) as { rows: Array<{ id: string; error_message: string | null }> }).rows
  }
  async function securityEvents(trx: Knex.Transaction, emails: string[]) {
    return (
      (await trx.raw(
        `select id, type, code, actor, path, details, resolution_note from compliance.security_events s
          where ${MENTIONS('s.details')} or ${MENTIONS('s.actor')} or ${MENTIONS('s.path')} or ${MENTIONS('s.resolution_note')}`,
        [...mentionBindings(emails), ...mentionBindings(emails), ...mentionBindings(emails), ...mentionBindings(emails)],
      )) as { rows: Array<{ id: string; type: string; code: string; actor: string | null; path: string | null; details: unknown; resolution_note: string | null }> }
    ).rows
  }
  async function auditEntries(trx: Knex.Transaction, emails: string[]) {
    return (
      (await trx.raw(`select seq::text as seq, event_id, action from compliance.audit_log a where ${MENTIONS('a.before')} or ${MENTIONS('a.after')} or ${MENTIONS('a.actor_id')}`, [
        ...mentionBindings(emails),
        ...mentionBindings(emails),
        ...mentionBindings(emails),
      ])) as {
        rows: Array<{ seq: string; event_id: string; action: string }>
      }
    ).rows
  }

  return {
    /** Rows of the tenant (the transaction's scope) that mention one of the lower-case emails. */
    async search(trx: Knex.Transaction, emails: string[], includeData: boolean): Promise<{ counts: Record<string, number>; matches: OwnMatch[] }> {
      if (emails.length === 0) return { counts: { sync_logs: 0, security_events: 0, audit_log: 0 }, matches: [] }
      const logs = await syncLogs(trx, emails)
      const events = await securityEvents(trx, emails)
      const audit = await auditEntries(trx, emails)
      return {
        counts: { sync_logs: logs.length, security_events: events.length, audit_log: audit.length },
        matches: [
          ...logs.map((row) => ({ table: 'sync_logs', key: { id: row.id }, ...(includeData ? { data: { errorMessage: row.error_message } } : {}) })),
          ...events.map((row) => ({
            table: 'security_events',
            key: { id: row.id, type: row.type, code: row.code },
            ...(includeData ? { data: { actor: row.actor, path: row.path, details: row.details, resolutionNote: row.resolution_note } } : {}),
          })),
          ...audit.map((row) => ({ table: 'audit_log', key: { seq: row.seq, eventId: row.event_id, action: row.action } })),
        ],
      }
    },

    /** Redacts the mentions in sync logs and security events; returns rows changed per table and audit entries that mention the person (never changed). */
    async redact(trx: Knex.Transaction, emails: string[]): Promise<Record<string, number>> {
      if (emails.length === 0) return { sync_logs: 0, security_events: 0, audit_log_mentions: 0 }
      let logsChanged = 0
      for (const row of await syncLogs(trx, emails)) {
        await trx.raw('update compliance.sync_logs set error_message = ? where id = ?', [redactEmails(row.error_message, emails), row.id])
        logsChanged++
      }
      let eventsChanged = 0
      for (const row of await securityEvents(trx, emails)) {
        await trx.raw('update compliance.security_events set details = ?::jsonb, actor = ?, path = ?, resolution_note = ? where id = ?', [
          JSON.stringify(redactJson(row.details, emails)),
          redactEmails(row.actor, emails),
          redactEmails(row.path, emails),
          redactEmails(row.resolution_note, emails),
          row.id,
        ])
        eventsChanged++
      }
      return { sync_logs: logsChanged, security_events: eventsChanged, audit_log_mentions: (await auditEntries(trx, emails)).length }
    },
  }
}

export type SubjectOwnData = ReturnType<typeof createSubjectOwnData>
