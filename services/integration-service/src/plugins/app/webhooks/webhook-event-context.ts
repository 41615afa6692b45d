// What processing one webhook event reads besides its inbox row: the connection, the stored
// version of the record the event names, and the field mappings of its entity. One statement
// instead of three: on the common path those three round trips were a quarter of an event's
// statements, and each statement is a socket write and a wait on both sides.
import type { Knex } from 'knex'
import type { EntityName } from '../../../providers/canonical.ts'
import type { ConnectionRow } from '../connections/connection-repository.ts'
import type { FieldMapping } from '../sync/field-mapping.ts'

export interface EventContext {
  connection: ConnectionRow
  /** The stored record's version (undefined: no such record; version null: stored before versions were kept). */
  stored: { version: Date | null; deleted: boolean } | undefined
  /** The tenant's mappings of the connection's provider and this entity, by target field. */
  mappings: FieldMapping[]
}

// The extra columns are prefixed so they can never be mistaken for a column of the connection's row.
const CONTEXT = `
  select c.*,
         s.found as "__stored", s.source_version as "__stored_version", s.deleted_at as "__stored_deleted_at", m.mappings as "__mappings"
    from integration.connections c
    left join lateral (
      select true as found, source_version, deleted_at from integration.records
       where connection_id = c.id and entity = ? and external_id = ? limit 1
    ) s on true
    cross join lateral (
      select coalesce(jsonb_agg(jsonb_build_object('sourcePath', source_path, 'targetField', target_field, 'transform', transform) order by target_field), '[]'::jsonb) as mappings
        from integration.field_mappings where provider = c.provider and entity = ?
    ) m
   where c.id = ?`

type ContextRow = ConnectionRow & { __stored: boolean | null; __stored_version: Date | null; __stored_deleted_at: Date | null; __mappings: FieldMapping[] }

/** Null when the connection is not the tenant's (RLS) or no longer exists. */
export async function readEventContext(trx: Knex.Transaction, target: { connectionId: string; entity: EntityName; externalId: string }): Promise<EventContext | null> {
  const result = (await trx.raw(CONTEXT, [target.entity, target.externalId, target.entity, target.connectionId])) as { rows: ContextRow[] }
  const row = result.rows[0]
  if (!row) return null
  const { __stored: found, __stored_version: version, __stored_deleted_at: deletedAt, __mappings: mappings, ...connection } = row
  return { connection, stored: found ? { version, deleted: deletedAt !== null } : undefined, mappings }
}
