// The event outbox: every event the hub publishes is written here in the transaction of the change
// it describes (so an event exists exactly when its change committed), and relayed to Redis Streams
// from here (event-relay.ts). The relay, not the writer, numbers each connection's events: a writer
// that took the number would hold the connection's counter until its commit, and every other change
// of that connection would wait for that commit. Postgres is the truth: a lost Redis is refilled
// from these rows.
import type { Knex } from 'knex'
import { hubEventDataProblem, latestVersion, type HubEvent, type HubEventData, type HubEventType } from '@hub/contracts'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'

export interface NewHubEvent<T extends HubEventType> {
  type: T
  tenantId: string
  venueId: string
  /** Null for an event of the venue (the sequence is then the venue's). */
  connectionId: string | null
  data: HubEventData<T>
}

interface OutboxRow {
  id: string
  event_id: string
  tenant_id: string
  venue_id: string
  connection_id: string | null
  type: HubEventType
  version: number
  /** Null until the relay numbers the row. */
  sequence: string | null
  occurred_at: Date
  data: Record<string, unknown>
  stream_position: string | null
}

/** A row on its way to a stream: the envelope and its position (the stream entry id). */
export interface RelayRow {
  id: string
  position: string
  event: HubEvent
}

export class InvalidHubEventError extends Error {
  constructor(type: string, problem: string) {
    super(`event ${type} does not match the catalogue: ${problem}`)
    this.name = 'InvalidHubEventError'
  }
}

/** An event as its writer sees it: the relay gives it its sequence. */
export type WrittenHubEvent = Omit<HubEvent, 'sequence'>

const toWritten = (row: OutboxRow): WrittenHubEvent => ({
  id: row.event_id,
  type: row.type,
  version: row.version,
  tenantId: row.tenant_id,
  venueId: row.venue_id,
  connectionId: row.connection_id,
  occurredAt: row.occurred_at.toISOString(),
  data: row.data,
})

// Only numbered rows become events (what the relay reads).
const toEvent = (row: OutboxRow): HubEvent => ({ ...toWritten(row), sequence: Number(row.sequence) })

/**
 * Writes an event in `trx`, the transaction of the change (a tenant transaction: RLS checks the
 * tenant). It takes no lock: the relay gives it its place in the connection's sequence once it has
 * committed, so a rolled-back change leaves no number behind.
 */
export async function publishEvent<T extends HubEventType>(trx: Knex.Transaction, input: NewHubEvent<T>): Promise<WrittenHubEvent> {
  const [written] = await publishEvents(trx, [input])
  return written as WrittenHubEvent
}

/**
 * Writes several events of one change in one statement (one round trip instead of one each), in
 * the order given: the relay numbers a connection's events in outbox id order, and the rows of
 * one insert take their ids in the order of its values.
 */
export async function publishEvents(trx: Knex.Transaction, inputs: ReadonlyArray<NewHubEvent<HubEventType>>): Promise<WrittenHubEvent[]> {
  if (inputs.length === 0) return []
  const written = (await trx(INTEGRATION_TABLES.eventOutbox)
    .insert(outboxRows(inputs))
    .returning(['id', 'event_id', 'tenant_id', 'venue_id', 'connection_id', 'type', 'version', 'sequence', 'occurred_at', 'data', 'stream_position'])) as OutboxRow[]
  return written.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1)).map(toWritten)
}

/**
 * The insert of events, not yet run, for a writer that runs it within a statement of its own (a
 * writable CTE: a run written whole, see the sync-log repository); rows in the order given.
 */
export function outboxInsert(trx: Knex.Transaction, inputs: ReadonlyArray<NewHubEvent<HubEventType>>): Knex.QueryBuilder {
  return trx(INTEGRATION_TABLES.eventOutbox).insert(outboxRows(inputs))
}

/** The outbox rows of events, checked against the catalogue. */
function outboxRows(inputs: ReadonlyArray<NewHubEvent<HubEventType>>) {
  return inputs.map((input) => {
    const version = latestVersion(input.type)
    // A malformed event would reach every consumer and tenant; refusing it rolls the change back,
    // which only a bug in an emitter can cause (the emitters are typed by the same catalogue).
    const problem = hubEventDataProblem(input.type, version, input.data)
    if (problem) throw new InvalidHubEventError(input.type, problem)
    return { tenant_id: input.tenantId, venue_id: input.venueId, connection_id: input.connectionId, type: input.type, version, data: JSON.stringify(input.data) }
  })
}

/** The relay's side (system scope). */
export function createEventOutboxRepository() {
  const table = (trx: Knex.Transaction) => trx(INTEGRATION_TABLES.eventOutbox)
  // A connection's rows, or a venue's rows without a connection.
  const ofScope = (trx: Knex.Transaction, scopeId: string) =>
    table(trx)
      .select('*')
      .where((q) => q.where('connection_id', scopeId).orWhere((v) => v.whereNull('connection_id').andWhere('venue_id', scopeId)))
  return {
    /**
     * Gives the next unrelayed rows, in outbox id order, their stream positions and their places in
     * their connection's (or venue's) sequence, in one transaction (the caller holds the relay's
     * lock, so numbers are taken by one relay at a time). Only committed rows are seen, and a
     * change still open holds nothing up: its event is numbered after whatever committed before
     * the relay found it. Changes that follow one another (a run's start, its writes, its end) are
     * therefore numbered in that order; changes that commit at the same time get an order then,
     * kept for good. Positions follow the numbers within each connection.
     */
    async assignPositions(trx: Knex.Transaction, limit: number): Promise<number> {
      const rows = (await table(trx).select('id', 'tenant_id', trx.raw('coalesce(connection_id, venue_id) as scope_id'), 'sequence').whereNull('relayed_at').whereNull('stream_position').orderBy('id').limit(limit)) as Array<{
        id: string
        tenant_id: string
        scope_id: string
        sequence: string | null
      }>
      if (rows.length === 0) return 0
      const positions = ((await trx.raw(`select nextval('${INTEGRATION_TABLES.eventOutbox}_position') as position from generate_series(1, ?)`, [rows.length])) as { rows: Array<{ position: string }> }).rows
        .map((row) => BigInt(row.position))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      // Rows written before the relay numbered events came with their number (and the counter had it).
      const wanted = new Map<string, { tenantId: string; count: number }>()
      for (const row of rows) {
        if (row.sequence !== null) continue
        const scope = wanted.get(row.scope_id) ?? { tenantId: row.tenant_id, count: 0 }
        scope.count += 1
        wanted.set(row.scope_id, scope)
      }
      const next = new Map<string, number>()
      if (wanted.size > 0) {
        const scopes = [...wanted.entries()]
        const counters = (
          (await trx.raw(
            `insert into ${INTEGRATION_TABLES.eventSequences} as s (scope_id, tenant_id, last_sequence)
               select * from unnest(?::uuid[], ?::uuid[], ?::bigint[])
             on conflict (scope_id) do update set last_sequence = s.last_sequence + excluded.last_sequence
             returning scope_id, last_sequence`,
            [scopes.map(([scope]) => scope), scopes.map(([, { tenantId }]) => tenantId), scopes.map(([, { count }]) => count)],
          )) as { rows: Array<{ scope_id: string; last_sequence: string }> }
        ).rows
        for (const counter of counters) next.set(counter.scope_id, Number(counter.last_sequence) - (wanted.get(counter.scope_id)?.count ?? 0) + 1)
      }
      const sequences = rows.map((row) => {
        if (row.sequence !== null) return row.sequence
        const sequence = next.get(row.scope_id) as number
        next.set(row.scope_id, sequence + 1)
        return String(sequence)
      })
      await trx.raw(
        `update ${INTEGRATION_TABLES.eventOutbox} e set stream_position = v.position, sequence = v.sequence
           from unnest(?::bigint[], ?::bigint[], ?::bigint[]) as v(id, position, sequence) where e.id = v.id`,
        [rows.map((row) => row.id), positions.map(String), sequences],
      )
      return rows.length
    },

    /** Positioned, unrelayed rows in position order: what the streams are missing. */
    async pending(trx: Knex.Transaction, limit: number): Promise<RelayRow[]> {
      const rows = (await table(trx).select('*').whereNull('relayed_at').whereNotNull('stream_position').orderBy('stream_position').limit(limit)) as OutboxRow[]
      return rows.map((row) => ({ id: row.id, position: String(row.stream_position), event: toEvent(row) }))
    },

    async markRelayed(trx: Knex.Transaction, ids: string[]): Promise<void> {
      if (ids.length === 0) return
      await table(trx).whereIn('id', ids).update({ relayed_at: trx.fn.now() })
    },

    /** Redis lost the streams: every row still kept goes out again, under its old position. */
    async reopenRelayed(trx: Knex.Transaction): Promise<number> {
      return table(trx).whereNotNull('relayed_at').update({ relayed_at: null })
    },

    /** Relayed rows older than the retention go (a bounded batch per call). */
    async prune(trx: Knex.Transaction, olderThanMs: number, limit: number): Promise<number> {
      const result = (await trx.raw(
        `delete from ${INTEGRATION_TABLES.eventOutbox} where id in (
           select id from ${INTEGRATION_TABLES.eventOutbox} where relayed_at is not null and relayed_at < now() - make_interval(secs => ?) limit ?)`,
        [olderThanMs / 1000, limit],
      )) as { rowCount: number }
      return result.rowCount
    },

    /** Unrelayed rows and the age of the oldest (the relay's lag). */
    async backlog(trx: Knex.Transaction): Promise<{ count: number; oldestAgeSeconds: number }> {
      const row = (await table(trx).whereNull('relayed_at').select(trx.raw('count(*)::int as count'), trx.raw('coalesce(extract(epoch from now() - min(occurred_at)), 0)::float as age')).first()) as { count: number; age: number }
      return { count: row.count, oldestAgeSeconds: row.age }
    },

    /** A connection's (or venue's) numbered events in sequence order, for tests and operators. */
    async listForScope(trx: Knex.Transaction, scopeId: string): Promise<HubEvent[]> {
      const rows = (await ofScope(trx, scopeId).whereNotNull('sequence').orderBy('sequence')) as OutboxRow[]
      return rows.map(toEvent)
    },

    /** A connection's (or venue's) events the relay has not numbered yet, in the order they were written. */
    async unnumberedForScope(trx: Knex.Transaction, scopeId: string): Promise<WrittenHubEvent[]> {
      const rows = (await ofScope(trx, scopeId).whereNull('sequence').orderBy('id')) as OutboxRow[]
      return rows.map(toWritten)
    },
  }
}

export type EventOutboxRepository = ReturnType<typeof createEventOutboxRepository>
