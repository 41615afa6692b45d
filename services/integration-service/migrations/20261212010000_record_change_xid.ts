import type { Knex } from 'knex'

// The records feed (GET /api/v1/integrations/records) pages by the writing transaction's id, as the
// sync-log feed does: a change_seq value is taken when a statement runs but becomes visible when
// its transaction commits, so a reader could pass a position before an older transaction committed
// behind it. Every write that takes a change_seq also sets change_xid = pg_current_xact_id() (in
// its own SQL: no trigger on this hot table), and the feed hands out only rows whose transaction
// is older than every one still running, in (change_xid, change_seq) order.
//
// On a large table: the column's constant default is stored once in the catalogue (no rewrite, no
// scan); existing rows read as xid 1, older than any real transaction, so they keep their
// change_seq order ahead of everything written later. Each ALTER takes a brief ACCESS EXCLUSIVE
// lock. The indexes are built CONCURRENTLY (reads and writes go on; two scans of the table per
// index), which cannot run inside a transaction: hence no wrapping transaction, and every step can
// be run again after a failure (a concurrent build that failed leaves an invalid index: it is
// dropped and built again; a valid one is kept).
export const config = { transaction: false }

// The feed, filtered by provider and entity or by entity alone (pushes share the second one and
// page by the same order), under the leading columns of the indexes they replace.
const NEW_INDEXES = {
  records_changes_xid_idx: '(tenant_id, venue_id, provider, entity, change_xid, change_seq)',
  records_venue_entity_xid_idx: '(tenant_id, venue_id, entity, change_xid, change_seq)',
}
const OLD_INDEXES = {
  records_changes_idx: '(tenant_id, venue_id, provider, entity, change_seq)',
  records_venue_entity_idx: '(tenant_id, venue_id, entity, change_seq)',
}

async function build(knex: Knex, indexes: Record<string, string>): Promise<void> {
  for (const [name, columns] of Object.entries(indexes)) {
    const found = (await knex.raw('select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = ? and c.relnamespace = current_schema()::regnamespace', [name])) as {
      rows: Array<{ valid: boolean }>
    }
    if (found.rows[0]?.valid) continue
    await knex.raw(`drop index concurrently if exists ${name}`)
    await knex.raw(`create index concurrently ${name} on records ${columns}`)
  }
}

async function drop(knex: Knex, indexes: Record<string, string>): Promise<void> {
  for (const name of Object.keys(indexes)) await knex.raw(`drop index concurrently if exists ${name}`)
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table records add column if not exists change_xid xid8 not null default '1'::xid8`)
  await knex.raw('alter table records alter column change_xid set default pg_current_xact_id()')
  await build(knex, NEW_INDEXES)
  await drop(knex, OLD_INDEXES)
}

export async function down(knex: Knex): Promise<void> {
  await build(knex, OLD_INDEXES)
  await drop(knex, NEW_INDEXES)
  await knex.raw('alter table records drop column if exists change_xid')
}
