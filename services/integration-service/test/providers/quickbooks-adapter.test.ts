// The QuickBooks adapter against the QuickBooks simulator (port 0), through the adapter's own
// undici client: no mocks. Intuit publishes no Node SDK we use, so there is no SDK webhook helper
// to cross-check; signatures are also recomputed independently with node:crypto.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createQuickBooksSimulator } from '../../../../packages/provider-simulators/src/quickbooks/index.ts'
import type { EntityName } from '../../src/providers/canonical.ts'
import type { ChangePage, ListOptions, ProviderAdapter, ProviderContext } from '../../src/providers/provider-adapter.ts'
import { ProviderAuthError, ProviderInvalidError, ProviderNotFoundError, ProviderRateLimitedError, ProviderUnavailableError, WebhookVerificationError } from '../../src/providers/provider-errors.ts'
import { createQuickBooksAdapter, decimalToMinor, decodeCursor, encodeCursor, minorToDecimalString, parseCallback, QuickBooksClient, requestIdFor, webhookEventId } from '../../src/providers/quickbooks/index.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

interface Realm {
  realmId: string
  accessToken: string
  refreshToken: string
  currency: string
  companyName: string
}

const sim = createQuickBooksSimulator({ recordsPerEntity: 20 })
let base = ''
const adapter = createQuickBooksAdapter({ webhookVerifierToken: 'portal-verifier-token' })

before(async () => {
  base = await sim.listen({ port: 0, host: '127.0.0.1' })
})
after(async () => {
  await sim.close()
})

async function control(method: string, path: string, body?: unknown): Promise<Json> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  assert.ok(response.status < 300, `${method} ${path} -> ${response.status}`)
  return (await response.json()) as Json
}

async function newRealm(body: Record<string, unknown> = {}): Promise<Realm> {
  return (await control('POST', '/_sim/realms', body)) as Realm
}

function ctxFor(realm: Realm, overrides: Partial<ProviderContext['credentials']> = {}): ProviderContext {
  return { baseUrl: base, credentials: { accessToken: realm.accessToken, realmId: realm.realmId, ...overrides } }
}

interface Drained {
  pages: Array<ChangePage<EntityName>>
  ids: string[]
  deleted: string[]
  cursor: string
}

async function drain(target: ProviderAdapter, ctx: ProviderContext, entity: EntityName, options: ListOptions): Promise<Drained> {
  const pages: Array<ChangePage<EntityName>> = []
  for await (const page of target.listChanges(ctx, entity, options)) pages.push(page)
  const last = pages.at(-1)
  assert.ok(last, 'listChanges yielded no page')
  assert.equal(last.hasMore, false)
  pages.slice(0, -1).forEach((page) => assert.equal(page.hasMore, true))
  return { pages, ids: pages.flatMap((p) => p.records.map((r) => r.externalId)), deleted: pages.flatMap((p) => p.deletedIds), cursor: last.cursor }
}

const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String(from + i))
const sortIds = (ids: string[]): string[] => [...ids].sort((a, b) => Number(a) - Number(b))

function assertNoDuplicates(ids: string[]): void {
  assert.equal(new Set(ids).size, ids.length, 'an id was delivered twice')
}

async function rejectsWith<T extends abstract new (...args: never[]) => Error>(promise: Promise<unknown>, type: T, check?: (error: InstanceType<T>) => void): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`)
    check?.(error as InstanceType<T>)
    return true
  })
}

describe('verifyCredentials', () => {
  test('a good token opens its realm', async () => {
    const realm = await newRealm({ count: 1, companyName: 'Lakeview Opera House' })
    assert.deepEqual(await adapter.verifyCredentials(ctxFor(realm)), { accountId: realm.realmId, name: 'Lakeview Opera House' })
  })

  test('malformed, missing, foreign-realm and revoked credentials are auth errors', async () => {
    const realm = await newRealm({ count: 1 })
    const other = await newRealm({ count: 1 })
    await rejectsWith(adapter.verifyCredentials(ctxFor(realm, { accessToken: 'garbage' })), ProviderAuthError, (error) => {
      assert.equal(error.status, 401)
      assert.equal(error.providerCode, '3200')
    })
    await rejectsWith(adapter.verifyCredentials(ctxFor(realm, { realmId: undefined })), ProviderAuthError)
    await rejectsWith(adapter.verifyCredentials(ctxFor(realm, { accessToken: undefined })), ProviderAuthError)
    await rejectsWith(adapter.verifyCredentials(ctxFor(realm, { realmId: other.realmId })), ProviderAuthError, (error) => assert.equal(error.status, 403))
    await control('POST', '/_sim/credentials/revoke', { credential: realm.accessToken })
    await rejectsWith(adapter.verifyCredentials(ctxFor(realm)), ProviderAuthError, (error) => assert.match(error.message, /Token revoked/))
  })
})

describe('full listing', () => {
  test('walks 2,500 invoices exactly once while invoices are deleted, changed and created mid-walk; the next incremental run catches up exactly', async () => {
    const realm = await newRealm({ count: 2500, entities: ['Customer', 'Invoice'] })
    const ctx = ctxFor(realm)
    const delivered: string[] = []
    const versions = new Map<string, string>()
    let cursor = ''
    let page = 0
    const deletedBehind = [...range(10, 19), ...range(500, 504)]
    const deletedAhead = range(1500, 1509)
    const changedBehind = range(100, 104)
    const changedAhead = range(2000, 2004)
    let created: string[] = []
    for await (const result of adapter.listChanges(ctx, 'invoice', { mode: 'full', cursor: null, pageSize: 400 })) {
      page++
      for (const record of result.records) {
        delivered.push(record.externalId)
        versions.set(record.externalId, String((record.raw as Json).SyncToken))
      }
      assert.deepEqual(result.deletedIds, [])
      cursor = result.cursor
      if (page === 1) {
        for (const id of range(10, 19)) await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/${id}`)
        for (const id of deletedAhead) await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/${id}`)
        for (const id of [...changedBehind, ...changedAhead]) await control('PATCH', `/_sim/accounts/${realm.realmId}/invoice/${id}`, { PrivateNote: 'edited mid-walk' })
        created = (await control('POST', `/_sim/accounts/${realm.realmId}/invoice`, { count: 7 })).ids as string[]
      }
      if (page === 3) {
        for (const id of range(500, 504)) await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/${id}`)
      }
    }
    assert.deepEqual(created, range(2501, 2507))
    assertNoDuplicates(delivered)
    const expected = [...range(1, 2500).filter((id) => !deletedAhead.includes(id)), ...created]
    assert.deepEqual(sortIds(delivered), expected)
    for (const id of changedAhead) assert.equal(versions.get(id), '1', `invoice ${id} should arrive in its changed version`)
    for (const id of changedBehind) assert.equal(versions.get(id), '0')

    const incremental = await drain(adapter, ctx, 'invoice', { mode: 'incremental', cursor })
    assert.deepEqual(sortIds(incremental.ids), changedBehind)
    assert.deepEqual(sortIds(incremental.deleted), sortIds([...deletedBehind, ...deletedAhead]))

    const quiet = await drain(adapter, ctx, 'invoice', { mode: 'incremental', cursor: incremental.cursor })
    assert.deepEqual([quiet.ids, quiet.deleted], [[], []])

    const more = (await control('POST', `/_sim/accounts/${realm.realmId}/invoice`, { count: 2 })).ids as string[]
    await control('PATCH', `/_sim/accounts/${realm.realmId}/invoice/7`, { DueDate: '2030-01-01' })
    await control('PATCH', `/_sim/accounts/${realm.realmId}/invoice/101`, { DueDate: '2030-01-01' })
    await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/8`)
    const next = await drain(adapter, ctx, 'invoice', { mode: 'incremental', cursor: quiet.cursor })
    assert.deepEqual(sortIds(next.ids), sortIds(['7', '101', ...more]))
    assert.deepEqual(next.deleted, ['8'])
    const changed = next.pages.flatMap((p) => p.records).find((r) => r.externalId === '7')
    assert.equal((changed?.data as Json).dueDate, '2030-01-01')
  })

  test('customers: deactivations are deletions, in full runs too; inactive ones never shift the walk', async () => {
    const realm = await newRealm({ count: 1200, entities: ['Customer'] })
    const ctx = ctxFor(realm)
    const pages: Array<ChangePage<'customer'>> = []
    for await (const result of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 250 })) {
      pages.push(result)
      if (pages.length === 1) {
        for (const id of ['3', '4', '900', '901']) await control('DELETE', `/_sim/accounts/${realm.realmId}/customer/${id}`)
      }
    }
    const ids = pages.flatMap((p) => p.records.map((r) => r.externalId))
    const deleted = pages.flatMap((p) => p.deletedIds)
    assertNoDuplicates([...ids, ...deleted])
    assert.deepEqual(sortIds([...ids, ...deleted]), range(1, 1200))
    assert.deepEqual(deleted, ['900', '901'])
    const first = pages[0]?.records[0]
    assert.ok(first, 'a first customer')
    assert.equal(first.entity, 'customer')
    assert.match(first.updatedAt ?? '', /Z$/)
    assert.equal(Date.parse(first.updatedAt ?? ''), Date.parse((first.raw as Json).MetaData.LastUpdatedTime))
    assert.equal(first.data.email, (first.raw as Json).PrimaryEmailAddr.Address)

    const incremental = await drain(adapter, ctx, 'customer', { mode: 'incremental', cursor: pages.at(-1)?.cursor ?? null })
    assert.deepEqual([incremental.ids, sortIds(incremental.deleted)], [[], ['3', '4']])
  })

  test('resumes from a mid-run checkpoint without missing or repeating anything', async () => {
    const realm = await newRealm({ count: 1000, entities: ['Customer'] })
    const ctx = ctxFor(realm)
    const firstRun: string[] = []
    let checkpoint: string | null = null
    for await (const result of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 300 })) {
      firstRun.push(...result.records.map((r) => r.externalId))
      checkpoint = result.cursor
      if (firstRun.length >= 600) break
    }
    assert.deepEqual(firstRun, range(1, 600))
    await control('POST', `/_sim/accounts/${realm.realmId}/customer`, { count: 3 })
    const rest = await drain(adapter, ctx, 'customer', { mode: 'full', cursor: checkpoint, pageSize: 300 })
    assert.deepEqual(rest.ids, range(601, 1003))

    // Passing the checkpoint in incremental mode resumes too; a non-checkpoint cursor in full
    // mode starts over.
    const again = await drain(adapter, ctx, 'customer', { mode: 'incremental', cursor: checkpoint, pageSize: 999 })
    assert.deepEqual(again.ids, range(601, 1003))
    const restart = await drain(adapter, ctx, 'customer', { mode: 'full', cursor: rest.cursor, pageSize: 999 })
    assert.equal(restart.ids.length, 1003)
  })

  test('a CDC run resumes from its checkpoint', async () => {
    const realm = await newRealm({ count: 5, entities: ['Customer'] })
    const ctx = ctxFor(realm)
    const full = await drain(adapter, ctx, 'customer', { mode: 'full', cursor: null })
    const created = (await control('POST', `/_sim/accounts/${realm.realmId}/customer`, { count: 250 })).ids as string[]
    const firstPages: string[] = []
    let checkpoint = ''
    for await (const result of adapter.listChanges(ctx, 'customer', { mode: 'incremental', cursor: full.cursor, pageSize: 100 })) {
      assert.equal(result.hasMore, true)
      firstPages.push(...result.records.map((r) => r.externalId))
      checkpoint = result.cursor
      if (firstPages.length === 100) break
    }
    const rest = await drain(adapter, ctx, 'customer', { mode: 'incremental', cursor: checkpoint, pageSize: 100 })
    assert.equal(rest.pages.length, 2)
    assertNoDuplicates([...firstPages, ...rest.ids])
    assert.deepEqual(sortIds([...firstPages, ...rest.ids]), created)
    const quiet = await drain(adapter, ctx, 'customer', { mode: 'incremental', cursor: rest.cursor })
    assert.deepEqual(quiet.ids, [])
  })

  test('two connections list at the same time without crossing', async () => {
    const [a, b] = await Promise.all([newRealm({ count: 700, entities: ['Item'] }), newRealm({ count: 300, entities: ['Item'] })])
    const [listA, listB] = await Promise.all([drain(adapter, ctxFor(a), 'product', { mode: 'full', cursor: null, pageSize: 100 }), drain(adapter, ctxFor(b), 'product', { mode: 'full', cursor: null, pageSize: 100 })])
    assert.deepEqual(listA.ids, range(1, 700))
    assert.deepEqual(listB.ids, range(1, 300))
    await rejectsWith(drain(adapter, ctxFor(b), 'product', { mode: 'incremental', cursor: listA.cursor }), ProviderInvalidError)
    await rejectsWith(drain(adapter, ctxFor(a), 'customer', { mode: 'incremental', cursor: listA.cursor }), ProviderInvalidError)
    await rejectsWith(drain(adapter, ctxFor(a), 'contact', { mode: 'full', cursor: null }), ProviderInvalidError)
  })
})

describe('incremental fallbacks', () => {
  test("a watermark older than CDC's 30 days falls back to a LastUpdatedTime query, and says so", async () => {
    const warnings: Json[] = []
    const logged = createQuickBooksAdapter({ logger: { warn: (details) => void warnings.push(details) } })
    const realm = await newRealm({ count: 1500, entities: ['Customer'] })
    await control('DELETE', `/_sim/accounts/${realm.realmId}/customer/2`)
    await control('PATCH', `/_sim/accounts/${realm.realmId}/customer/3`, { FamilyName: 'Renamed' })
    const since = new Date(Date.now() - 45 * 86_400_000).toISOString()
    const cursor = encodeCursor({ v: 1, k: 'inc', r: realm.realmId, e: 'Customer', since, s: {} })
    const all = (await control('GET', `/_sim/accounts/${realm.realmId}/customer`)).records as Json[]
    const changed = all.filter((c) => Date.parse(c.MetaData.LastUpdatedTime) >= Date.parse(since))
    const expectedRecords = changed.filter((c) => c.Active !== false).map((c) => String(c.Id))
    assert.ok(expectedRecords.length > 50 && expectedRecords.length < 500, `expected a slice of the company, got ${expectedRecords.length}`)

    // The walk is ordered by LastUpdatedTime: a customer changed after it was delivered moves to
    // the end (shifting every offset) and comes again in its new version; nothing is skipped.
    const pages: Array<ChangePage<'customer'>> = []
    let moved: string[] = []
    for await (const page of logged.listChanges(ctxFor(realm), 'customer', { mode: 'incremental', cursor, pageSize: 40 })) {
      pages.push(page)
      if (pages.length === 1) {
        moved = page.records.slice(0, 3).map((r) => r.externalId)
        for (const id of moved) await control('PATCH', `/_sim/accounts/${realm.realmId}/customer/${id}`, { Notes: 'moved' })
      }
    }
    const result = { ids: pages.flatMap((p) => p.records.map((r) => r.externalId)), deleted: pages.flatMap((p) => p.deletedIds), cursor: pages.at(-1)?.cursor ?? '' }
    assert.equal(pages.at(-1)?.hasMore, false)
    for (const id of moved) {
      assert.equal(result.ids.filter((delivered) => delivered === id).length, 2)
      assert.equal(
        (
          pages
            .flatMap((p) => p.records)
            .filter((r) => r.externalId === id)
            .at(-1)?.raw as Json
        ).Notes,
        'moved',
      )
    }
    assertNoDuplicates(result.ids.filter((id) => !moved.includes(id)))
    assert.deepEqual(sortIds([...new Set(result.ids)]), sortIds(expectedRecords))
    assert.deepEqual(result.deleted, ['2'])
    assert.equal(warnings.length, 1)
    assert.equal(warnings[0]?.reason, 'cdc_window')
    assert.deepEqual(result.ids.slice(-4).sort(), ['3', ...moved].sort())
    const decoded = decodeCursor(result.cursor, realm.realmId, 'Customer')
    assert.equal(decoded.k, 'inc')
    const quiet = await drain(logged, ctxFor(realm), 'customer', { mode: 'incremental', cursor: result.cursor })
    assert.deepEqual([quiet.ids, quiet.deleted, warnings.length], [[], [], 1])
  })

  test('more than 1000 CDC changes fall back to the query, keeping the deletions CDC did report', async () => {
    const warnings: Json[] = []
    const logged = createQuickBooksAdapter({ seenLimit: 2000, logger: { warn: (details) => void warnings.push(details) } })
    const realm = await newRealm({ count: 5, entities: ['Customer', 'Invoice'] })
    const ctx = ctxFor(realm)
    const full = await drain(logged, ctx, 'invoice', { mode: 'full', cursor: null })
    assert.deepEqual(full.ids, range(1, 5))
    await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/3`)
    const created = (await control('POST', `/_sim/accounts/${realm.realmId}/invoice`, { count: 1050 })).ids as string[]
    const result = await drain(logged, ctx, 'invoice', { mode: 'incremental', cursor: full.cursor, pageSize: 400 })
    assert.equal(warnings[0]?.reason, 'cdc_overflow')
    assertNoDuplicates(result.ids)
    assert.deepEqual(sortIds(result.ids), created)
    assert.deepEqual(result.deleted, ['3'])
    assert.equal(result.pages.length, 3)
    const quiet = await drain(logged, ctx, 'invoice', { mode: 'incremental', cursor: result.cursor })
    assert.deepEqual([quiet.ids, quiet.deleted], [[], []])
  })
})

describe('mapping', () => {
  test('money: decimals to minor units without float error, and back', () => {
    assert.equal(decimalToMinor(12.29, 'USD'), 1229)
    assert.equal(decimalToMinor(0.1 + 0.2, 'USD'), 30)
    assert.equal(decimalToMinor(1.005, 'USD'), 101)
    assert.equal(decimalToMinor(19.999, 'USD'), 2000)
    assert.equal(decimalToMinor(-12.345, 'USD'), -1235)
    assert.equal(decimalToMinor('1234567.89', 'GBP'), 123456789)
    assert.equal(decimalToMinor(1500, 'JPY'), 1500)
    assert.equal(decimalToMinor(1.234, 'KWD'), 1234)
    assert.equal(decimalToMinor(1e-7, 'USD'), 0)
    assert.throws(() => decimalToMinor('12,50', 'EUR'), RangeError)
    assert.equal(minorToDecimalString(1229, 'USD'), '12.29')
    assert.equal(minorToDecimalString(5, 'USD'), '0.05')
    assert.equal(minorToDecimalString(-5, 'USD'), '-0.05')
    assert.equal(minorToDecimalString(1500, 'JPY'), '1500')
  })

  test('invoices, payments and products map into canonical records', async () => {
    const realm = await newRealm({ count: 300, currency: 'GBP' })
    const ctx = ctxFor(realm)
    const invoices = await drain(adapter, ctx, 'invoice', { mode: 'full', cursor: null, pageSize: 999 })
    for (const record of invoices.pages.flatMap((p) => p.records)) {
      const raw = record.raw as Json
      const lineCents = raw.Line.filter((l: Json) => l.DetailType === 'SalesItemLineDetail').reduce((sum: number, l: Json) => sum + decimalToMinor(l.Amount, 'GBP'), 0)
      const data = record.data as Json
      assert.equal(data.total, lineCents)
      assert.equal(data.currency, 'GBP')
      assert.equal(data.number, raw.DocNumber)
      assert.equal(data.customerExternalId, raw.CustomerRef.value)
      assert.ok(['paid', 'open', 'overdue', 'partially_paid'].includes(data.status), `unexpected status ${data.status}`)
      if (raw.Balance === 0) assert.equal(data.status, 'paid')
    }
    const payments = await drain(adapter, ctx, 'payment', { mode: 'full', cursor: null, pageSize: 999 })
    assert.equal(payments.ids.length, 300)
    const payment = payments.pages[0]?.records[0]
    assert.equal((payment?.data as Json).amount, decimalToMinor((payment?.raw as Json).TotalAmt, 'GBP'))
    assert.equal((payment?.data as Json).status, 'completed')

    await control('DELETE', `/_sim/accounts/${realm.realmId}/item/5`)
    const products = await drain(adapter, ctx, 'product', { mode: 'full', cursor: null, pageSize: 999 })
    assert.equal(products.ids.length, 300)
    const byId = new Map(products.pages.flatMap((p) => p.records).map((r) => [r.externalId, r]))
    assert.equal((byId.get('5')?.data as Json).active, false)
    for (const record of byId.values()) {
      const data = record.data as Json
      assert.equal(data.currency, 'GBP')
      assert.equal(data.unitAmount, decimalToMinor((record.raw as Json).UnitPrice, 'GBP'))
    }
  })

  test('fetchOne returns the record, or null when missing, hard-deleted or an inactive customer', async () => {
    const realm = await newRealm({ count: 4 })
    const ctx = ctxFor(realm)
    const invoice = await adapter.fetchOne(ctx, 'invoice', '2')
    assert.equal(invoice?.externalId, '2')
    assert.equal(await adapter.fetchOne(ctx, 'invoice', '999'), null)
    assert.equal(await adapter.fetchOne(ctx, 'invoice', 'abc'), null)
    await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/2`)
    assert.equal(await adapter.fetchOne(ctx, 'invoice', '2'), null)
    await control('DELETE', `/_sim/accounts/${realm.realmId}/customer/1`)
    assert.equal(await adapter.fetchOne(ctx, 'customer', '1'), null)
    await control('DELETE', `/_sim/accounts/${realm.realmId}/item/1`)
    assert.equal((await adapter.fetchOne(ctx, 'product', '1'))?.data.active, false)
  })
})

describe('errors', () => {
  test("each simulator fault maps to its typed error, with Intuit's wait", async () => {
    const realm = await newRealm({ count: 2 })
    const ctx = ctxFor(realm)
    const fault = (plan: Record<string, unknown>) => control('POST', '/_sim/faults', { account: realm.realmId, times: 1, ...plan })

    await fault({ kind: 'rate_limit', retryAfterSeconds: 7 })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderRateLimitedError, (error) => {
      assert.equal(error.retryAfterMs, 7000)
      assert.equal(error.providerCode, '3001')
      assert.equal(error.status, 429)
    })
    await fault({ kind: 'rate_limit' })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderRateLimitedError, (error) => assert.equal(error.retryAfterMs, 60_000))
    await fault({ kind: 'server_error' })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderUnavailableError, (error) => assert.equal(error.status, 500))
    await fault({ kind: 'reset' })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderUnavailableError)
    await fault({ kind: 'expired_token' })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderAuthError, (error) => assert.equal(error.providerCode, '3200'))
    await fault({ kind: 'slow', delayMs: 3000 })
    const impatient = createQuickBooksAdapter({ timeoutMs: 300 })
    const started = Date.now()
    await rejectsWith(impatient.verifyCredentials(ctx), ProviderUnavailableError)
    assert.ok(Date.now() - started < 2500, 'the adapter timeout fired before the slow answer')

    const client = new QuickBooksClient(ctx, { timeoutMs: 5000, connectTimeoutMs: 1000, minorVersion: '75' })
    try {
      await rejectsWith(client.query('Customer', 'SELECT * FORM Customer'), ProviderInvalidError, (error) => assert.equal(error.providerCode, '4000'))
      await rejectsWith(client.read('Invoice', '424242'), ProviderNotFoundError, (error) => assert.equal(error.providerCode, '610'))
    } finally {
      await client.close()
    }
    await rejectsWith(adapter.verifyCredentials({ ...ctx, baseUrl: 'http://127.0.0.1:9' }), ProviderUnavailableError)
  })

  test('a throttled page stops the walk; its cursor resumes it with nothing lost', async () => {
    const realm = await newRealm({ count: 900, entities: ['Customer'] })
    const ctx = ctxFor(realm)
    const seen: string[] = []
    let cursor: string | null = null
    await rejectsWith(
      (async () => {
        for await (const result of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 200 })) {
          seen.push(...result.records.map((r) => r.externalId))
          cursor = result.cursor
          if (seen.length === 200) await control('POST', '/_sim/faults', { kind: 'rate_limit', account: realm.realmId, times: 1, retryAfterSeconds: 3, pathIncludes: '/query' })
        }
      })(),
      ProviderRateLimitedError,
      (error) => assert.equal(error.retryAfterMs, 3000),
    )
    const rest = await drain(adapter, ctx, 'customer', { mode: 'full', cursor, pageSize: 200 })
    assert.deepEqual([...seen, ...rest.ids], range(1, 900))
  })

  test("the enforced 500 requests/minute limit surfaces as rate_limited with the simulator's Retry-After", async () => {
    const limited = createQuickBooksSimulator({ recordsPerEntity: 1, enforceRateLimits: true })
    const url = await limited.listen({ port: 0, host: '127.0.0.1' })
    try {
      const realm = (await (await fetch(`${url}/_sim/realms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as Realm
      const ctx: ProviderContext = { baseUrl: url, credentials: { accessToken: realm.accessToken, realmId: realm.realmId } }
      for (let i = 0; i < 500; i++) await adapter.verifyCredentials(ctx)
      const served = await fetch(`${url}/v3/company/${realm.realmId}/preferences`, { headers: { authorization: `Bearer ${realm.accessToken}`, accept: 'application/json' } })
      assert.equal(served.status, 429)
      const retryAfter = Number(served.headers.get('retry-after'))
      await rejectsWith(adapter.verifyCredentials(ctx), ProviderRateLimitedError, (error) => {
        assert.ok(Math.abs(error.retryAfterMs - retryAfter * 1000) <= 1000, `${error.retryAfterMs} vs ${retryAfter}s`)
        assert.ok(error.retryAfterMs >= 1000, 'wait of at least a second')
      })
    } finally {
      await limited.close()
    }
  })
})

describe('webhooks', () => {
  let receiver: Server
  let receiverUrl = ''
  const received: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = []

  before(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks) })
        response.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/quickbooks`
    await control('POST', '/_sim/webhooks', { url: receiverUrl, verifierToken: 'portal-verifier-token' })
  })
  after(async () => {
    await control('DELETE', '/_sim/webhooks')
    receiver.closeAllConnections()
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  async function fire(body: Record<string, unknown>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
    const count = received.length
    const result = await control('POST', '/_sim/webhooks/fire', body)
    assert.equal(result.status, 200)
    assert.equal(received.length, count + 1)
    return received.at(-1) as { headers: IncomingHttpHeaders; body: Buffer }
  }

  test('register returns the portal verifier token; remove is a no-op', async () => {
    const realm = await newRealm({ count: 1 })
    const registration = await adapter.registerWebhook(ctxFor(realm), receiverUrl)
    assert.equal(registration.secret, 'portal-verifier-token')
    assert.equal(registration.endpointId, `intuit-portal:${realm.realmId}:${receiverUrl}`)
    await adapter.removeWebhook(ctxFor(realm), registration.endpointId)
    const listed = (await control('GET', '/_sim/webhooks')).webhooks as Json[]
    assert.deepEqual(
      listed.map((w) => w.url),
      [receiverUrl],
    )
    await rejectsWith(createQuickBooksAdapter().registerWebhook(ctxFor(realm), receiverUrl), ProviderInvalidError)
  })

  test('a delivered notification verifies and normalizes; the same change keeps its event id', async () => {
    const realm = await newRealm({ count: 3 })
    const delivery = await fire({ accountId: realm.realmId, type: 'Invoice.Update', objectId: '2' })
    const signature = delivery.headers['intuit-signature']
    assert.equal(signature, createHmac('sha256', 'portal-verifier-token').update(delivery.body).digest('base64'))
    const input = { rawBody: delivery.body, headers: delivery.headers, url: receiverUrl, secret: 'portal-verifier-token' }
    const events = adapter.verifyWebhook(input)
    assert.equal(events.length, 1)
    const [event] = events
    const change = JSON.parse(delivery.body.toString()).eventNotifications[0].dataChangeEvent.entities[0] as Json
    assert.deepEqual(
      { ...event, raw: undefined },
      {
        eventId: webhookEventId(realm.realmId, 'Invoice', '2', 'Update', change.lastUpdated),
        type: 'Invoice.Update',
        entity: 'invoice',
        externalId: '2',
        occurredAt: new Date(Date.parse(change.lastUpdated.replace(/(\d{2})(\d{2})$/, '$1:$2'))).toISOString(),
        accountId: realm.realmId,
        raw: undefined,
      },
    )
    // A redelivery of the same notification keeps the event id; a later change gets a new one.
    assert.equal(adapter.verifyWebhook({ ...input })[0]?.eventId, event?.eventId)
    const later = await fire({ accountId: realm.realmId, type: 'Invoice.Update', objectId: '2', lastUpdated: new Date(Date.now() + 5000).toISOString() })
    assert.notEqual(adapter.verifyWebhook({ ...input, rawBody: later.body, headers: later.headers })[0]?.eventId, event?.eventId)
    const item = await fire({ accountId: realm.realmId, type: 'Item.Create', objectId: '1' })
    assert.equal(adapter.verifyWebhook({ ...input, rawBody: item.body, headers: item.headers })[0]?.entity, 'product')
  })

  test('tampered, wrongly signed, unsigned, stale and malformed webhooks are refused', async () => {
    const realm = await newRealm({ count: 2 })
    const delivery = await fire({ accountId: realm.realmId, type: 'Customer.Update', objectId: '1' })
    const input = { rawBody: delivery.body, headers: delivery.headers, url: receiverUrl, secret: 'portal-verifier-token' }
    const reason = (fn: () => unknown): string => {
      try {
        fn()
      } catch (error) {
        assert.ok(error instanceof WebhookVerificationError, `unexpected ${String(error)}`)
        return error.reason
      }
      return 'accepted'
    }
    const tampered = Buffer.from(delivery.body.toString().replace('"id":"1"', '"id":"2"'))
    assert.equal(
      reason(() => adapter.verifyWebhook({ ...input, rawBody: tampered })),
      'bad_signature',
    )
    assert.equal(
      reason(() => adapter.verifyWebhook({ ...input, secret: 'another-token' })),
      'bad_signature',
    )
    assert.equal(
      reason(() => adapter.verifyWebhook({ ...input, headers: { ...delivery.headers, 'intuit-signature': 'not base64!' } })),
      'bad_signature',
    )
    assert.equal(
      reason(() => adapter.verifyWebhook({ ...input, headers: { 'content-type': 'application/json' } })),
      'missing_signature',
    )

    const stale = await fire({ accountId: realm.realmId, type: 'Customer.Update', objectId: '1', lastUpdated: new Date(Date.now() - 2 * 86_400_000).toISOString() })
    assert.equal(
      reason(() => adapter.verifyWebhook({ ...input, rawBody: stale.body, headers: stale.headers })),
      'stale',
    )

    const junk = Buffer.from(JSON.stringify({ hello: 'world' }))
    const signedJunk = { 'intuit-signature': createHmac('sha256', 'portal-verifier-token').update(junk).digest('base64') }
    assert.equal(
      reason(() => adapter.verifyWebhook({ ...input, rawBody: junk, headers: signedJunk })),
      'malformed',
    )
  })
})

describe('oauth', () => {
  const redirectUri = 'https://hub.example.com/oauth/quickbooks/callback'
  const oauth = adapter.oauth
  assert.ok(oauth, 'the adapter supports OAuth')

  test('authorize, exchange (realmId from the redirect), refresh with rotation, revoke', async () => {
    await control('POST', '/_sim/oauth/clients', { clientId: 'hub-app', clientSecret: 'hub-secret' })
    const authorize = oauth.authorizeUrl({ authBaseUrl: base, clientId: 'hub-app', redirectUri, state: 'csrf-1', codeChallenge: 'abc' })
    const url = new URL(authorize)
    assert.equal(url.pathname, '/connect/oauth2')
    assert.equal(url.searchParams.get('scope'), 'com.intuit.quickbooks.accounting')
    assert.equal(url.searchParams.get('response_type'), 'code')
    const redirect = await fetch(authorize, { redirect: 'manual' })
    const callback = parseCallback(redirect.headers.get('location') ?? '')
    assert.equal(callback.state, 'csrf-1')
    assert.ok(callback.code && callback.realmId, 'code and realmId on the redirect')

    const params = { authBaseUrl: base, clientId: 'hub-app', clientSecret: 'hub-secret', code: callback.code, redirectUri, realmId: callback.realmId }
    const tokens = await oauth.exchangeCode(params)
    assert.equal(tokens.realmId, callback.realmId)
    assert.ok(tokens.refreshToken, 'a refresh token')
    const ttl = Date.parse(tokens.expiresAt ?? '') - Date.now()
    assert.ok(ttl > 3500_000 && ttl <= 3600_000, `expiresAt ${tokens.expiresAt}`)
    const ctx: ProviderContext = { baseUrl: base, credentials: { accessToken: tokens.accessToken, realmId: callback.realmId } }
    assert.equal((await adapter.verifyCredentials(ctx)).accountId, callback.realmId)
    await rejectsWith(oauth.exchangeCode(params), ProviderAuthError, (error) => assert.equal(error.providerCode, 'invalid_grant'))
    await rejectsWith(oauth.exchangeCode({ ...params, clientSecret: 'nope' }), ProviderAuthError, (error) => assert.equal(error.providerCode, 'invalid_client'))

    const refreshed = await oauth.refresh({ authBaseUrl: base, clientId: 'hub-app', clientSecret: 'hub-secret', refreshToken: tokens.refreshToken })
    assert.ok(refreshed.refreshToken && refreshed.refreshToken !== tokens.refreshToken, 'the refresh token rotated')
    await rejectsWith(oauth.refresh({ authBaseUrl: base, clientId: 'hub-app', clientSecret: 'hub-secret', refreshToken: tokens.refreshToken }), ProviderAuthError, (error) => assert.equal(error.providerCode, 'invalid_grant'))
    await oauth.revoke({ authBaseUrl: base, clientId: 'hub-app', clientSecret: 'hub-secret', token: refreshed.refreshToken })
    await rejectsWith(adapter.verifyCredentials({ ...ctx, credentials: { accessToken: refreshed.accessToken, realmId: callback.realmId } }), ProviderAuthError)
  })

  test('an expired access token is an auth error until refreshed', async () => {
    await control('POST', '/_sim/oauth/config', { accessTokenTtlSeconds: 0 })
    const realm = await newRealm({ count: 1 })
    await control('POST', '/_sim/oauth/config', { accessTokenTtlSeconds: 3600 })
    await rejectsWith(adapter.verifyCredentials(ctxFor(realm)), ProviderAuthError, (error) => assert.match(error.message, /Token expired/))
    const fresh = await oauth.refresh({ authBaseUrl: base, clientId: 'any-client', clientSecret: 'any-secret', refreshToken: realm.refreshToken })
    assert.equal((await adapter.verifyCredentials(ctxFor({ ...realm, accessToken: fresh.accessToken }))).accountId, realm.realmId)
  })
})

describe('sales receipts', () => {
  test('pushes receipts once per key, reports refusals per receipt', async () => {
    const realm = await newRealm({ count: 3, currency: 'USD' })
    const ctx = ctxFor(realm)
    const longKey = `payment-${'x'.repeat(80)}`
    const receipts = [
      { key: 'hubpay_1', customerExternalId: '2', amount: 1229, currency: 'usd', description: 'Two stalls tickets', date: '2026-03-01T19:30:00Z' },
      { key: longKey, customerExternalId: null, amount: 5, currency: 'USD', description: 'Cloakroom', date: '2026-03-01' },
      { key: 'hubpay_3', customerExternalId: '9999', amount: 100, currency: 'USD', description: 'Unknown customer', date: '2026-03-01' },
      { key: 'hubpay_4', customerExternalId: null, amount: 100, currency: 'EUR', description: 'Wrong currency', date: '2026-03-01' },
      { key: 'hubpay_5', customerExternalId: null, amount: -1, currency: 'USD', description: 'Negative', date: '2026-03-01' },
    ]
    const first = await adapter.createSalesReceipts?.(ctx, receipts)
    assert.equal(first?.succeeded, 2)
    assert.deepEqual(
      first?.failed.map((f) => [f.key, f.code]),
      [
        ['hubpay_3', '2500'],
        ['hubpay_4', '6000'],
        ['hubpay_5', 'invalid'],
      ],
    )
    const again = await adapter.createSalesReceipts?.(ctx, receipts.slice(0, 2))
    assert.deepEqual(again, { succeeded: 2, failed: [] })
    const stored = (await control('GET', `/_sim/accounts/${realm.realmId}/salesreceipt`)).records as Json[]
    assert.equal(stored.length, 2)
    assert.deepEqual(
      stored.map((r) => [r.TotalAmt, r.TxnDate, r.CustomerRef?.value ?? null, r.PrivateNote]),
      [
        [12.29, '2026-03-01', '2', 'Two stalls tickets'],
        [0.05, '2026-03-01', null, 'Cloakroom'],
      ],
    )
    assert.equal(requestIdFor(longKey).length, 40)
    assert.equal(requestIdFor('hubpay_1'), 'hubpay_1')
  })
})
