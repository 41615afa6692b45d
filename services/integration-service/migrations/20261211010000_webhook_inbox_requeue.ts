import type { Knex } from 'knex'

// The worker's inbox relay also hands back events that reached the queue but were never
// processed, since their job may have been lost with Redis: it finds them by when they were last
// handed over (an index over the few unprocessed rows, not a scan of the retained inbox), and
// leaves alone those already dead-lettered, which it must therefore read across tenants.
const SYSTEM = "current_setting('app.scope', true) = 'system'"

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create index webhook_inbox_unprocessed_idx on webhook_inbox (enqueued_at) where processed_at is null and enqueued_at is not null;
    create index dead_letters_job_idx on dead_letters (job_id) where job_id is not null;
    create policy system_read on dead_letters for select using (${SYSTEM});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop policy if exists system_read on dead_letters;
    drop index if exists dead_letters_job_idx;
    drop index if exists webhook_inbox_unprocessed_idx;
  `)
}
