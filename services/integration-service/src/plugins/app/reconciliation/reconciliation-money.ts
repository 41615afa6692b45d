// Which entities carry money and how a record's amount is bucketed: by currency and by the UTC day
// of its date (the first ten characters of the ISO timestamp the mappers produce). The SQL below is
// the same rule for the hub's side, so both sides always bucket a record alike.
import type { EntityName } from '../../../providers/canonical.ts'
import type { Totals } from './reconciliation-run-repository.ts'

interface MoneyRule {
  amountField: string
  dayFields: string[]
}

const MONEY: Partial<Record<EntityName, MoneyRule>> = {
  payment: { amountField: 'amount', dayFields: ['createdAt'] },
  invoice: { amountField: 'total', dayFields: ['createdAt', 'dueDate'] },
}

export const isMoneyEntity = (entity: EntityName): boolean => MONEY[entity] !== undefined

export function bucketOf(entity: EntityName, data: unknown): { key: string; amount: number } | null {
  const rule = MONEY[entity]
  if (!rule || !data || typeof data !== 'object') return null
  const record = data as Record<string, unknown>
  const amount = Number(record[rule.amountField] ?? 0)
  const currency = typeof record.currency === 'string' ? record.currency : ''
  const date = rule.dayFields.map((field) => record[field]).find((value) => typeof value === 'string') as string | undefined
  return { key: `${currency}:${date ? date.slice(0, 10) : ''}`, amount: Number.isFinite(amount) ? Math.trunc(amount) : 0 }
}

export function addToTotals(totals: Totals, bucket: { key: string; amount: number }): void {
  const current = totals[bucket.key] ?? { count: 0, amount: 0 }
  totals[bucket.key] = { count: current.count + 1, amount: current.amount + bucket.amount }
}

/** SQL of the bucket key and amount of a `records` row aliased `r`, or null for other entities. */
export function bucketSql(entity: EntityName): { key: string; amount: string } | null {
  const rule = MONEY[entity]
  if (!rule) return null
  const date = `coalesce(${rule.dayFields.map((field) => `r.data->>'${field}'`).join(', ')}, '')`
  return { key: `coalesce(r.data->>'currency', '') || ':' || left(${date}, 10)`, amount: `coalesce(trunc((r.data->>'${rule.amountField}')::numeric), 0)::bigint` }
}

/** The buckets whose count or sum differ, with both sides. */
export function diffTotals(provider: Totals, hub: Totals): Array<{ key: string; currency: string; day: string; provider: { count: number; amount: number }; hub: { count: number; amount: number } }> {
  const keys = new Set([...Object.keys(provider), ...Object.keys(hub)])
  const zero = { count: 0, amount: 0 }
  const out = []
  for (const key of [...keys].sort()) {
    const p = provider[key] ?? zero
    const h = hub[key] ?? zero
    if (p.count === h.count && p.amount === h.amount) continue
    const at = key.indexOf(':')
    out.push({ key, currency: key.slice(0, at), day: key.slice(at + 1), provider: p, hub: h })
  }
  return out
}

/** Whether a record's date falls in [from, to); records without a date fall outside any period. */
export function inPeriod(data: unknown, period: { from: Date | null; to: Date | null }): boolean {
  if (!period.from && !period.to) return true
  const created = data && typeof data === 'object' ? (data as Record<string, unknown>).createdAt : undefined
  if (typeof created !== 'string') return false
  const at = Date.parse(created)
  if (!Number.isFinite(at)) return false
  return (!period.from || at >= period.from.getTime()) && (!period.to || at < period.to.getTime())
}
