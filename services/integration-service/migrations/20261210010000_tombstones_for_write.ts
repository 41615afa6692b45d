import type { Knex } from 'knex'

// A write of provider data takes the tenant's subject-data lock (shared) and then reads its
// tombstones: two statements, because a statement's snapshot is taken when it starts and the
// tombstones must be read in one taken after the lock is granted (see subject-data-repository.ts).
// A VOLATILE function takes a new snapshot for each statement it runs, so this one does both in
// one round trip. It runs as its caller (row-level security applies as to any read), and the lock
// key is built from the same text as the erase's, so the two always meet on the same lock.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function tombstones_for_write(tenant text) returns table (kind text, key_version integer, value_hash text)
      language plpgsql volatile security invoker as $$
    begin
      perform pg_advisory_xact_lock_shared(hashtextextended('subject-data:' || tenant, 0));
      return query select t.kind, t.key_version, t.value_hash from integration.subject_tombstones t;
    end
    $$;
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function if exists tombstones_for_write(text)')
}
