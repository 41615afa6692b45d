// reconciliation_schedules: per connection, the hour (in the venue's time zone) of the daily full
// run, whether the hourly quick check runs, and whether drift is repaired without an admin.
import type { Knex } from 'knex'

export interface ScheduleRow {
  connection_id: string
  tenant_id: string
  venue_id: string
  enabled: boolean
  daily_hour: number
  timezone: string
  quick_check: boolean
  auto_repair: boolean
  updated_by: string | null
  updated_at: Date
}

export type ScheduleInput = Pick<ScheduleRow, 'connection_id' | 'tenant_id' | 'venue_id' | 'enabled' | 'daily_hour' | 'timezone' | 'quick_check' | 'auto_repair' | 'updated_by'>

const table = (trx: Knex.Transaction) => trx<ScheduleRow>('integration.reconciliation_schedules')

export function createReconciliationScheduleRepository() {
  return {
    async find(trx: Knex.Transaction, connectionId: string): Promise<ScheduleRow | null> {
      return ((await table(trx).where({ connection_id: connectionId }).first()) as ScheduleRow | undefined) ?? null
    },

    async upsert(trx: Knex.Transaction, input: ScheduleInput): Promise<ScheduleRow> {
      const [row] = await table(trx)
        .insert({ ...input, updated_at: trx.fn.now() as unknown as Date })
        .onConflict('connection_id')
        .merge(['enabled', 'daily_hour', 'timezone', 'quick_check', 'auto_repair', 'updated_by', 'updated_at'])
        .returning('*')
      return row as ScheduleRow
    },

    /** Across tenants (system scope): every schedule, to put Bull's repeatable jobs back in line. */
    async listAll(trx: Knex.Transaction): Promise<ScheduleRow[]> {
      return (await table(trx).select('*')) as ScheduleRow[]
    },
  }
}

export type ReconciliationScheduleRepository = ReturnType<typeof createReconciliationScheduleRepository>
