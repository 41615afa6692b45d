// The event outbox: every event the hub publishes is written here in the transaction of the change
// it describes (so an event exists exactly when its change committed), with a gapless per-connection
// sequence, and relayed to Redis Streams from here (event-relay.ts). Postgres is the truth: a lost
// Redis is refilled from these rows.
import type { Knex } from 'knex'
import { hubEventProblem, latestVersion, type HubEvent, type HubEventData, type HubEventType } from '@hub/contracts'
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
  sequence: string
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

const toEvent = (row: OutboxRow): HubEvent => ({
  id: row.event_id,
  type: row.type,
  version: row.version,
  tenantId: row.tenant_id,
  venueId: row.venue_id,
  connectionId: row.connection_id,
  sequence: Number(row.sequence),
  occurredAt: row.occurred_at.toISOString(),
  data: row.data,
})

/**
 * Writes an event in `trx`, the transaction of the change (a tenant transaction: RLS checks the
 * tenant). The sequence comes from a per-connection counter row, locked until `trx` ends: events of
 * one connection are numbered in commit order, and a rollback returns the number. Call it late in
 * the transaction: the counter row is held until commit, so concurrent writers of the same
 * connection wait for each other from that point on.
 */
export async function publishEvent<T extends HubEventType>(trx: Knex.Transaction, input: NewHubEvent<T>): Promise<HubEvent> {
  const version = latestVersion(input.type)
  const scopeId = input.connectionId ?? input.venueId
  const [counter] = (
    (await trx.raw(
      `insert into ${INTEGRATION_TABLES.eventSequences} as s (scope_id, tenant_id, last_sequence) values (?::uuid, ?::uuid, 1)
       on conflict (scope_id) do update set last_sequence = s.last_sequence + 1
       returning last_sequence`,
      [scopeId, input.tenantId],
    )) as { rows: Array<{ last_sequence: string }> }
  ).rows
  const sequence = Number(counter?.last_sequence)
  const [row] = (await trx(INTEGRATION_TABLES.eventOutbox)
    .insert({
      tenant_id: input.tenantId,
      venue_id: input.venueId,
      connection_id: input.connectionId,
      type: input.type,
      version,
      sequence,
      data: JSON.stringify(input.data),
    })
    .returning(['id', 'event_id', 'tenant_id', 'venue_id', 'connection_id', 'type', 'version', 'sequence', 'occurred_at', 'data', 'stream_position'])) as OutboxRow[]
  const event = toEvent(row as OutboxRow)
  // A malformed event would reach every consumer and tenant; refusing it rolls the change back,
  // which only a bug in an emitter can cause (the emitters are typed by the same catalogue).
  const problem = hubEventProblem(event)
  if (problem) throw new InvalidHubEventError(input.type, problem)
  return event
}

/** The relay's side (system scope). */
export function createEventOutboxRepository() {
  const table = (trx: Knex.Transaction) => trx(INTEGRATION_TABLES.eventOutbox)
  return {
    /**
     * Gives the next unrelayed rows stream positions, in outbox id order. Ids of one connection
     * follow its sequence (a row is inserted after its counter row is locked, so after the
     * previous event's transaction committed), and the rows visible now are, per connection, a
     * complete prefix: positions therefore follow each connection's sequence.
     */
    async assignPositions(trx: Knex.Transaction, limit: number): Promise<number> {
      const rows = (await table(trx).select('id').whereNull('relayed_at').whereNull('stream_position').orderBy('id').limit(limit)) as Array<{ id: string }>
      if (rows.length === 0) return 0
      const positions = ((await trx.raw(`select nextval('${INTEGRATION_TABLES.eventOutbox}_position') as position from generate_series(1, ?)`, [rows.length])) as { rows: Array<{ position: string }> }).rows
        .map((row) => BigInt(row.position))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      await trx.raw(
        `update ${INTEGRATION_TABLES.eventOutbox} e set stream_position = v.position
           from unnest(?::bigint[], ?::bigint[]) as v(id, position) where e.id = v.id`,
        [rows.map((row) => row.id), positions.map(String)],
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

    /** A connection's (or venue's) events in sequence order, for tests and operators. */
    async listForScope(trx: Knex.Transaction, scopeId: string): Promise<HubEvent[]> {
      const rows = (await table(trx)
        .select('*')
        .where((q) => q.where('connection_id', scopeId).orWhere((v) => v.whereNull('connection_id').andWhere('venue_id', scopeId)))
        .orderBy('sequence')) as OutboxRow[]
      return rows.map(toEvent)
    },
  }
}

export type EventOutboxRepository = ReturnType<typeof createEventOutboxRepository>
