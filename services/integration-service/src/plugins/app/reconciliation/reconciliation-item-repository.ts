// reconciliation_items: each mismatch a run found, unique per (run, kind, key) so a page compared
// again after a crash adds nothing twice, and its repair outcome.
import type { Knex } from 'knex'

export type ItemKind = 'missing_in_hub' | 'missing_at_provider' | 'changed' | 'amount_mismatch'
export const ITEM_KINDS: readonly ItemKind[] = ['missing_in_hub', 'missing_at_provider', 'changed', 'amount_mismatch']
export type RepairStatus = 'repaired' | 'still_different' | 'failed'

export interface NewItem {
  kind: ItemKind
  externalId?: string | null
  providerHash?: string | null
  hubHash?: string | null
  currency?: string | null
  day?: string | null
  providerCount?: number | null
  hubCount?: number | null
  providerAmount?: number | null
  hubAmount?: number | null
}

export interface ItemRow {
  id: string
  seq: string
  tenant_id: string
  run_id: string
  kind: ItemKind
  key: string
  external_id: string | null
  provider_hash: string | null
  hub_hash: string | null
  currency: string | null
  day: string | null
  provider_count: number | null
  hub_count: number | null
  provider_amount: string | null
  hub_amount: string | null
  repair_status: RepairStatus | null
  repaired_at: Date | null
  created_at: Date
}

const keyOf = (item: NewItem): string => (item.kind === 'amount_mismatch' ? `${item.currency ?? ''}:${item.day ?? ''}` : (item.externalId ?? ''))

export function createReconciliationItemRepository() {
  return {
    /** Inserts the items not recorded yet; returns how many of each kind were new. */
    async insertMany(trx: Knex.Transaction, run: { id: string; tenant_id: string }, items: NewItem[]): Promise<Record<ItemKind, number>> {
      const added: Record<ItemKind, number> = { missing_in_hub: 0, missing_at_provider: 0, changed: 0, amount_mismatch: 0 }
      for (let i = 0; i < items.length; i += 1_000) {
        const chunk = items.slice(i, i + 1_000).map((item) => ({
          tenant_id: run.tenant_id,
          run_id: run.id,
          kind: item.kind,
          key: keyOf(item),
          external_id: item.externalId ?? null,
          provider_hash: item.providerHash ?? null,
          hub_hash: item.hubHash ?? null,
          currency: item.currency ?? null,
          day: item.day ?? null,
          provider_count: item.providerCount ?? null,
          hub_count: item.hubCount ?? null,
          provider_amount: item.providerAmount ?? null,
          hub_amount: item.hubAmount ?? null,
        }))
        const rows = (await trx('integration.reconciliation_items').insert(chunk).onConflict(['run_id', 'kind', 'key']).ignore().returning('kind')) as Array<{ kind: ItemKind }>
        for (const row of rows) added[row.kind]++
      }
      return added
    },

    async list(trx: Knex.Transaction, runId: string, options: { afterSeq?: string | undefined; kind?: string | undefined; limit: number }): Promise<ItemRow[]> {
      const q = trx('integration.reconciliation_items').select('*', trx.raw('seq::text as seq')).where({ run_id: runId })
      if (options.kind) q.where('kind', options.kind)
      if (options.afterSeq) q.where('integration.reconciliation_items.seq', '>', options.afterSeq)
      return (await q.orderBy('integration.reconciliation_items.seq').limit(options.limit)) as ItemRow[]
    },

    /** Items of a run a repair still has to do, in the order they were found. */
    async unrepaired(trx: Knex.Transaction, runId: string, limit: number): Promise<ItemRow[]> {
      return (await trx('integration.reconciliation_items')
        .select('*', trx.raw('seq::text as seq'))
        .where({ run_id: runId })
        .where((q) => q.whereNull('repair_status').orWhereNot('repair_status', 'repaired'))
        .orderBy('integration.reconciliation_items.seq')
        .limit(limit)) as ItemRow[]
    },

    async markRepair(trx: Knex.Transaction, ids: string[], status: RepairStatus): Promise<void> {
      if (ids.length === 0) return
      await trx('integration.reconciliation_items')
        .whereIn('id', ids)
        .update({ repair_status: status, repaired_at: status === 'repaired' ? trx.fn.now() : null })
    },

    async countRepaired(trx: Knex.Transaction, runId: string): Promise<{ repaired: number; total: number }> {
      const row = (await trx('integration.reconciliation_items').where({ run_id: runId }).select(trx.raw("count(*) filter (where repair_status = 'repaired')::int as repaired"), trx.raw('count(*)::int as total')).first()) as
        { repaired: number; total: number } | undefined
      return row ?? { repaired: 0, total: 0 }
    },
  }
}

export type ReconciliationItemRepository = ReturnType<typeof createReconciliationItemRepository>
