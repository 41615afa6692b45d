// The token bucket a budget becomes: never more than the budget in any window, and a sustained
// rate close enough to it that a sync at the budget can reach its ceiling (issue 14: ≥ 97 %).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bucketShape, parseRateBudget } from '../../src/plugins/app/sync/rate-limiter.ts'

test('every budget keeps any window at or under its requests, and sustains at least 96 % of them', () => {
  for (const text of ['100/1s', '25/1s', '20/1s', '500/1m', '10/250ms', '1000/1s', '60/1m']) {
    const budget = parseRateBudget(text)
    const { capacity, perMs } = bucketShape(budget)
    const sustained = perMs * budget.windowMs
    assert.ok(capacity + sustained <= budget.requests + 1e-9, `${text}: a burst of ${capacity} and ${sustained} refilled exceed the window`)
    assert.ok(sustained / budget.requests >= 0.9 - 1e-9, `${text}: sustains only ${sustained} of ${budget.requests}`)
    if (budget.requests >= 25) assert.ok(sustained / budget.requests >= 0.96, `${text}: sustains only ${sustained} of ${budget.requests}`)
  }
  // Stripe's live budget, the one the sync bench measures against.
  const stripe = bucketShape(parseRateBudget('100/1s'))
  assert.equal(stripe.perMs * 1_000, 98)
  assert.equal(stripe.capacity, 2)
})
