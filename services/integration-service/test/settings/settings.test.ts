import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { SettingsChangeEvent } from '../../src/plugins/app/settings/settings-service.ts'
import { distinctiveSecret, setupSettingsRig } from './settings-rig.ts'

const rig = await setupSettingsRig()
const base = '/api/v1/integrations/settings'

interface Change {
  key: string
  op: string
  secret: boolean
  before: unknown
  after: unknown
}

test('every change is a new version; history shows who, when and what (secrets masked); rollback restores secrets too', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const admin = rig.user(tenant, ['admin'])
  const first = distinctiveSecret('first')
  const second = distinctiveSecret('second')

  const v1 = await app.inject({ method: 'PUT', url: `${base}/quickbooks`, headers: admin, payload: { settings: { incomeAccountId: '4000', syncSchedule: 'hourly', webhookVerifierToken: first } } })
  assert.equal(v1.statusCode, 200, v1.body)
  assert.equal(v1.headers.etag, '"1"')
  const doc1 = v1.json()
  assert.deepEqual({ version: doc1.version, scope: doc1.scope, venueId: doc1.venueId, secretKeys: doc1.secretKeys }, { version: 1, scope: 'tenant', venueId: null, secretKeys: ['webhookVerifierToken'] })
  assert.equal(doc1.settings.incomeAccountId, '4000')
  assert.ok(doc1.settings.webhookVerifierToken.endsWith(first.slice(-4)) && doc1.settings.webhookVerifierToken !== first, `masked: ${doc1.settings.webhookVerifierToken}`)
  assert.ok(!v1.body.includes(first), 'the secret is not echoed')

  const v2 = await app.inject({ method: 'PATCH', url: `${base}/quickbooks`, headers: admin, payload: { settings: { depositAccountId: '1200', webhookVerifierToken: second } } })
  assert.equal(v2.statusCode, 200, v2.body)
  assert.equal(v2.json().version, 2)
  assert.equal(v2.json().settings.incomeAccountId, '4000', 'a patch keeps what it does not mention')
  const secretChange = v2.json().changes.find((change: Change) => change.key === 'webhookVerifierToken')
  assert.deepEqual({ op: secretChange.op, secret: secretChange.secret }, { op: 'changed', secret: true })
  assert.ok(String(secretChange.before).endsWith(first.slice(-4)) && String(secretChange.after).endsWith(second.slice(-4)), 'secret changes are shown masked')

  const v3 = await app.inject({ method: 'PATCH', url: `${base}/quickbooks`, headers: admin, payload: { settings: { syncSchedule: null } } })
  assert.equal(v3.statusCode, 200, v3.body)
  assert.deepEqual(v3.json().changes, [{ key: 'syncSchedule', op: 'removed', secret: false, before: 'hourly', after: null }])

  const history = await app.inject({ url: `${base}/quickbooks/versions?limit=2`, headers: admin })
  assert.equal(history.statusCode, 200, history.body)
  const page1 = history.json()
  assert.deepEqual(
    page1.data.map((entry: { version: number }) => entry.version),
    [3, 2],
  )
  assert.ok(page1.nextCursor, 'a second page')
  assert.ok(
    page1.data.every((entry: { createdBy: string; createdAt: string; kind: string }) => entry.createdBy.startsWith('admin-') && !Number.isNaN(Date.parse(entry.createdAt)) && entry.kind === 'patch'),
    'who, when, how',
  )
  const page2 = (await app.inject({ url: `${base}/quickbooks/versions?limit=2&cursor=${page1.nextCursor}`, headers: admin })).json()
  assert.deepEqual(
    page2.data.map((entry: { version: number; kind: string }) => [entry.version, entry.kind]),
    [[1, 'replace']],
  )
  assert.equal(page2.nextCursor, null)
  assert.deepEqual(
    page2.data[0].changes.map((change: Change) => [change.key, change.op]),
    [
      ['incomeAccountId', 'added'],
      ['syncSchedule', 'added'],
      ['webhookVerifierToken', 'added'],
    ],
  )
  assert.equal((await app.inject({ url: `${base}/quickbooks/versions?cursor=garbage`, headers: admin })).json().code, 'INVALID_CURSOR')

  const one = await app.inject({ url: `${base}/quickbooks/versions/1`, headers: admin })
  assert.equal(one.statusCode, 200, one.body)
  assert.equal(one.json().settings.syncSchedule, 'hourly')
  assert.ok(one.json().settings.webhookVerifierToken.endsWith(first.slice(-4)), 'an old version shows its own secret, masked')
  assert.equal((await app.inject({ url: `${base}/quickbooks/versions/9`, headers: admin })).json().code, 'SETTINGS_VERSION_NOT_FOUND')

  const rolled = await app.inject({ method: 'POST', url: `${base}/quickbooks/versions/1/rollback`, headers: admin })
  assert.equal(rolled.statusCode, 200, rolled.body)
  const doc4 = rolled.json()
  assert.deepEqual({ version: doc4.version, syncSchedule: doc4.settings.syncSchedule, deposit: doc4.settings.depositAccountId }, { version: 4, syncSchedule: 'hourly', deposit: undefined })
  assert.equal(doc4.settings.webhookVerifierToken, doc1.settings.webhookVerifierToken, 'the secret of version 1 is back')
  const summary = (await app.inject({ url: `${base}/quickbooks/versions?limit=1`, headers: admin })).json().data[0]
  assert.deepEqual({ kind: summary.kind, rolledBackFrom: summary.rolledBackFrom }, { kind: 'rollback', rolledBackFrom: 1 })
  const effective = await app.settingsService.effective(tenant, null, 'quickbooks')
  assert.deepEqual(effective, { incomeAccountId: '4000', syncSchedule: 'hourly', webhookVerifierToken: first }, 'decrypted for the sync engine')

  const stored = await rig.db.adminQuery<{ secrets: unknown; values: unknown }>('select secrets, "values" from integration.integration_settings_versions where tenant_id = $1', [tenant])
  assert.equal(stored.length, 4, 'all four versions are kept')
  assert.ok(!JSON.stringify(stored).includes(first) && !JSON.stringify(stored).includes(second), 'secrets are stored encrypted only')
  const outbox = await rig.db.adminQuery<{ action: string; before: unknown; after: { version: number; changedKeys: string[] } }>('select action, before, after from integration.audit_outbox where tenant_id = $1 order by occurred_at', [
    tenant,
  ])
  assert.deepEqual(
    outbox.map((row) => row.action),
    ['settings.updated', 'settings.updated', 'settings.updated', 'settings.rolled_back'],
  )
  assert.deepEqual(
    outbox.map((row) => row.after.version),
    [1, 2, 3, 4],
  )
  assert.deepEqual(outbox[2]?.after.changedKeys, ['syncSchedule'])
  assert.ok(!JSON.stringify(outbox).includes(first) && !JSON.stringify(outbox).includes(second), 'audit images carry no secret')
})

test('a venue overrides the tenant key by key; effective() merges and decrypts; onChange hears committed changes only', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const venue = await rig.venue(tenant)
  const admin = rig.user(tenant, ['admin'])
  const events: SettingsChangeEvent[] = []
  const unsubscribe = app.settingsService.onChange((event) => {
    events.push(event)
  })
  app.settingsService.onChange(() => {
    throw new Error('a broken listener does not fail the write')
  })

  const tenantWide = await app.inject({ method: 'PUT', url: `${base}/mailchimp`, headers: admin, payload: { settings: { audienceId: 'aud-tenant', doubleOptIn: true, syncSchedule: 'daily', defaultTags: ['vip'] } } })
  assert.equal(tenantWide.statusCode, 200, tenantWide.body)
  const venueOwn = await app.inject({ method: 'PUT', url: `${base}/mailchimp?venueId=${venue.toUpperCase()}`, headers: admin, payload: { settings: { audienceId: 'aud-venue', defaultTags: [] } } })
  assert.equal(venueOwn.statusCode, 200, venueOwn.body)
  assert.equal(venueOwn.json().venueId, venue, 'venue ids are normalised')

  const own = (await app.inject({ url: `${base}/mailchimp?venueId=${venue}`, headers: admin })).json()
  assert.deepEqual(own.settings, { audienceId: 'aud-venue', defaultTags: [] }, "the venue's own document only")
  const merged = await app.inject({ url: `${base}/mailchimp/effective?venueId=${venue}`, headers: admin })
  assert.equal(merged.statusCode, 200, merged.body)
  assert.deepEqual(merged.json().settings, { audienceId: 'aud-venue', defaultTags: [], doubleOptIn: true, syncSchedule: 'daily' })
  assert.deepEqual(merged.json().sources, { audienceId: 'venue', defaultTags: 'venue', doubleOptIn: 'tenant', syncSchedule: 'tenant' })
  assert.deepEqual(merged.json().versions, { tenant: 1, venue: 1 })
  const otherVenue = (await app.inject({ url: `${base}/mailchimp/effective?venueId=${randomUUID()}`, headers: admin })).json()
  assert.deepEqual({ settings: otherVenue.settings, versions: otherVenue.versions }, { settings: { audienceId: 'aud-tenant', defaultTags: ['vip'], doubleOptIn: true, syncSchedule: 'daily' }, versions: { tenant: 1, venue: 0 } })

  assert.deepEqual(await app.settingsService.effective(tenant, venue, 'mailchimp'), { audienceId: 'aud-venue', doubleOptIn: true, syncSchedule: 'daily', defaultTags: [] })
  const secret = distinctiveSecret('venue')
  await app.inject({ method: 'PUT', url: `${base}/quickbooks`, headers: admin, payload: { settings: { incomeAccountId: '4000', webhookVerifierToken: distinctiveSecret('tenant') } } })
  await app.inject({ method: 'PUT', url: `${base}/quickbooks?venueId=${venue}`, headers: admin, payload: { settings: { webhookVerifierToken: secret } } })
  assert.deepEqual(await app.settingsService.effective(tenant, venue, 'quickbooks'), { incomeAccountId: '4000', webhookVerifierToken: secret }, "the venue's secret wins, decrypted")
  const maskedMerge = (await app.inject({ url: `${base}/quickbooks/effective?venueId=${venue}`, headers: admin })).json()
  assert.deepEqual({ secretKeys: maskedMerge.secretKeys, source: maskedMerge.sources.webhookVerifierToken }, { secretKeys: ['webhookVerifierToken'], source: 'venue' })
  assert.ok(!JSON.stringify(maskedMerge).includes(secret), 'the HTTP view stays masked')

  const refused = await app.inject({ method: 'PATCH', url: `${base}/mailchimp`, headers: admin, payload: { settings: { doubleOptIn: 'yes' } } })
  assert.equal(refused.statusCode, 400)
  assert.deepEqual(
    events.map((event) => [event.type, event.venueId, event.version, event.action]),
    [
      ['mailchimp', null, 1, 'updated'],
      ['mailchimp', venue, 1, 'updated'],
      ['quickbooks', null, 1, 'updated'],
      ['quickbooks', venue, 1, 'updated'],
    ],
    'one event per committed change, none for a refused write',
  )
  assert.deepEqual(events[1]?.changedKeys, ['audienceId', 'defaultTags'])
  assert.ok(!JSON.stringify(events).includes(secret), 'events carry no values')
  unsubscribe()
  await app.inject({ method: 'POST', url: `${base}/mailchimp/versions/1/rollback`, headers: admin })
  assert.equal(events.length, 4, 'an unsubscribed listener hears nothing more')
})

test('export leaves secrets out and names them; import validates, encrypts secrets in the file and keeps those it omits', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const [venueA, venueB] = [await rig.venue(tenant), await rig.venue(tenant)]
  const admin = rig.user(tenant, ['admin'])
  const secret = distinctiveSecret('export')
  await app.inject({ method: 'PUT', url: `${base}/quickbooks?venueId=${venueA}`, headers: admin, payload: { settings: { incomeAccountId: '4000', depositAccountId: '1200', syncSchedule: 'daily', webhookVerifierToken: secret } } })

  const outboxBefore = await rig.outboxCount(tenant)
  const exported = await app.inject({ url: `${base}/quickbooks/export?venueId=${venueA}`, headers: admin })
  assert.equal(exported.statusCode, 200, exported.body)
  assert.match(String(exported.headers['content-disposition']), /attachment; filename="quickbooks-settings-.*-v1\.json"/)
  const file = exported.json()
  assert.deepEqual(
    { format: file.format, type: file.type, venueId: file.venueId, version: file.version, settings: file.settings, omittedSecrets: file.omittedSecrets },
    { format: 'venue-hub.integration-settings/v1', type: 'quickbooks', venueId: venueA, version: 1, settings: { depositAccountId: '1200', incomeAccountId: '4000', syncSchedule: 'daily' }, omittedSecrets: ['webhookVerifierToken'] },
  )
  assert.ok(!exported.body.includes(secret) && !exported.body.includes(secret.slice(-4)), 'not even masked')
  assert.equal(await rig.outboxCount(tenant), outboxBefore, 'an export is a read: no audit row')

  const intoB = await app.inject({ method: 'POST', url: `${base}/quickbooks/import?venueId=${venueB}`, headers: admin, payload: file })
  assert.equal(intoB.statusCode, 200, intoB.body)
  assert.deepEqual({ version: intoB.json().version, settings: intoB.json().settings, secretKeys: intoB.json().secretKeys }, { version: 1, settings: file.settings, secretKeys: [] }, 'secrets do not travel in a file')
  assert.equal((await app.inject({ url: `${base}/quickbooks/versions?venueId=${venueB}`, headers: admin })).json().data[0].kind, 'import')

  const edited = await app.inject({ method: 'POST', url: `${base}/quickbooks/import?venueId=${venueA}`, headers: admin, payload: { ...file, settings: { incomeAccountId: '4100', syncSchedule: 'hourly' } } })
  assert.equal(edited.statusCode, 200, edited.body)
  assert.deepEqual(edited.json().settings.depositAccountId, undefined, 'an import replaces the non-secret keys')
  assert.ok(edited.json().settings.webhookVerifierToken.endsWith(secret.slice(-4)), 'a secret the file omits is kept')
  const newSecret = distinctiveSecret('imported')
  const withSecret = await app.inject({ method: 'POST', url: `${base}/quickbooks/import?venueId=${venueA}`, headers: admin, payload: { settings: { incomeAccountId: '4100', webhookVerifierToken: newSecret } } })
  assert.equal(withSecret.statusCode, 200, withSecret.body)
  assert.ok(!withSecret.body.includes(newSecret), 'masked in the response')
  assert.equal((await app.settingsService.effective(tenant, venueA, 'quickbooks')).webhookVerifierToken, newSecret, 'a secret in the file is accepted and encrypted')
  const [row] = await rig.db.adminQuery<{ secrets: unknown }>('select secrets from integration.integration_settings_versions where tenant_id = $1 and version = 3 and rolled_back_from is null order by created_at desc limit 1', [tenant])
  assert.ok(row && !JSON.stringify(row.secrets).includes(newSecret), 'stored encrypted')

  const before = await rig.storedCounts(tenant)
  const refusals: Array<[object, number, string]> = [
    [{ ...file, type: 'stripe' }, 400, 'IMPORT_TYPE_MISMATCH'],
    [{ settings: { incomeAccountId: '4000', bogus: true } }, 400, 'VALIDATION_FAILED'],
    [{ format: 'something-else/v9', settings: {} }, 400, 'VALIDATION_FAILED'],
    [{ type: 'quickbooks' }, 400, 'VALIDATION_FAILED'],
  ]
  for (const [payload, status, code] of refusals) {
    const response = await app.inject({ method: 'POST', url: `${base}/quickbooks/import?venueId=${venueA}`, headers: admin, payload })
    assert.equal(response.statusCode, status, `${JSON.stringify(payload)}: ${response.body}`)
    assert.equal(response.json().code, code)
  }
  assert.deepEqual(await rig.storedCounts(tenant), before, 'refused imports store nothing')
})

test('unknown keys, wrong types, unknown types and bad venue ids are refused with problem+json, and nothing is stored', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const admin = rig.user(tenant, ['admin'])
  const secret = distinctiveSecret('invalid')
  const before = await rig.storedCounts(tenant)
  const cases: Array<{ method: 'PUT' | 'PATCH'; url: string; payload: unknown; status: number; code: string; path?: string; message?: RegExp }> = [
    { method: 'PUT', url: `${base}/stripe`, payload: { settings: { payoutReporting: true, surprise: 1 } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/surprise', message: /not a setting/ },
    { method: 'PUT', url: `${base}/stripe`, payload: { settings: { payoutReporting: 'yes' } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/payoutReporting', message: /boolean/ },
    { method: 'PUT', url: `${base}/stripe`, payload: { settings: { syncSchedule: 'weekly' } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/syncSchedule', message: /one of: off, every_15_minutes, hourly, daily/ },
    { method: 'PUT', url: `${base}/square`, payload: { settings: { locationIds: ['L1', 7] } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/locationIds/1' },
    { method: 'PUT', url: `${base}/mailchimp`, payload: { settings: { defaultTags: ['vip', 'vip'] } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/defaultTags' },
    { method: 'PATCH', url: `${base}/mailchimp`, payload: { settings: { audienceId: null, ghost: null } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/ghost' },
    { method: 'PUT', url: `${base}/quickbooks`, payload: { settings: { webhookVerifierToken: 12345678 } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/webhookVerifierToken' },
    { method: 'PUT', url: `${base}/quickbooks`, payload: { settings: { incomeAccountId: `no spaces ${secret}` } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/incomeAccountId' },
    { method: 'PUT', url: `${base}/quickbooks`, payload: { settings: { webhookVerifierToken: secret, extra: secret } }, status: 400, code: 'VALIDATION_FAILED', path: '/body/settings/extra' },
    { method: 'PUT', url: `${base}/paypal`, payload: { settings: {} }, status: 404, code: 'INTEGRATION_TYPE_NOT_FOUND' },
    { method: 'PUT', url: `${base}/stripe?venueId=not-a-uuid`, payload: { settings: {} }, status: 400, code: 'VALIDATION_FAILED', path: '/querystring/venueId' },
    { method: 'PUT', url: `${base}/stripe`, payload: { payoutReporting: true }, status: 400, code: 'VALIDATION_FAILED' },
    { method: 'PUT', url: `${base}/stripe`, payload: { settings: [] }, status: 400, code: 'VALIDATION_FAILED' },
  ]
  for (const entry of cases) {
    // A user per case: refused writes spend the 10-a-minute write budget too.
    const response = await app.inject({ method: entry.method, url: entry.url, headers: rig.user(tenant, ['admin']), payload: entry.payload as object })
    const label = `${entry.method} ${entry.url} ${JSON.stringify(entry.payload)}`
    assert.equal(response.statusCode, entry.status, `${label}: ${response.body}`)
    assert.match(String(response.headers['content-type']), /application\/problem\+json/, label)
    const problem = response.json()
    assert.equal(problem.code, entry.code, label)
    if (entry.path) {
      const issue = problem.errors?.find((candidate: { path: string }) => candidate.path === entry.path)
      assert.ok(issue, `${label}: errors[] names ${entry.path}: ${response.body}`)
      if (entry.message) assert.match(issue.message, entry.message, label)
    }
    assert.ok(!response.body.includes(secret), `${label}: the offending value is not echoed`)
  }
  for (const url of [`${base}/paypal`, `${base}/paypal/versions`, `${base}/paypal/export`]) {
    const response = await app.inject({ url, headers: admin })
    assert.equal(response.statusCode, 404, url)
    assert.equal(response.json().code, 'INTEGRATION_TYPE_NOT_FOUND', url)
  }
  const types = await app.inject({ url: base, headers: admin })
  assert.equal(types.statusCode, 200, types.body)
  const quickbooks = types.json().types.find((entry: { type: string }) => entry.type === 'quickbooks')
  assert.deepEqual(
    types.json().types.map((entry: { type: string }) => entry.type),
    ['stripe', 'square', 'mailchimp', 'quickbooks'],
  )
  assert.deepEqual(
    quickbooks.keys.filter((key: { secret: boolean }) => key.secret).map((key: { key: string }) => key.key),
    ['webhookVerifierToken'],
    'clients learn which keys are secret',
  )
  const openapi = await app.inject({ url: '/openapi.json' })
  assert.ok(openapi.statusCode === 200 && openapi.body.includes('/api/v1/integrations/settings/{type}/versions/{version}/rollback'), 'documented in OpenAPI')
  const notSecret = await app.inject({ url: `${base}/quickbooks/secrets/incomeAccountId`, headers: admin })
  assert.deepEqual([notSecret.statusCode, notSecret.json().code], [400, 'NOT_A_SECRET_SETTING'])
  const unset = await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken`, headers: admin })
  assert.deepEqual([unset.statusCode, unset.json().code], [404, 'SECRET_SETTING_NOT_SET'])
  const oversized = await app.inject({ method: 'PUT', url: `${base}/mailchimp`, headers: { ...admin, 'content-type': 'application/json' }, payload: JSON.stringify({ settings: { audienceId: 'x'.repeat(300_000) } }) })
  assert.equal(oversized.statusCode, 413)
  assert.deepEqual(await rig.storedCounts(tenant), before, 'nothing stored, nothing audited')
})

test('roles and tenancy: viewers read masked, managers write only their venues, admins own the tenant; other tenants see nothing', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const [mine, theirs] = [await rig.venue(tenant), await rig.venue(tenant)]
  const admin = rig.user(tenant, ['admin'])
  const manager = rig.user(tenant, ['manager'], [mine])
  const viewer = rig.user(tenant, ['viewer'])
  const secret = distinctiveSecret('roles')
  assert.equal((await app.inject({ method: 'PUT', url: `${base}/quickbooks?venueId=${theirs}`, headers: admin, payload: { settings: { incomeAccountId: '4000', webhookVerifierToken: secret } } })).statusCode, 200)
  assert.equal((await app.inject({ method: 'PUT', url: `${base}/stripe`, headers: admin, payload: { settings: { payoutReporting: true } } })).statusCode, 200)

  const ownVenue = await app.inject({ method: 'PUT', url: `${base}/square?venueId=${mine}`, headers: manager, payload: { settings: { locationIds: ['L1'] } } })
  assert.equal(ownVenue.statusCode, 200, ownVenue.body)
  const before = await rig.storedCounts(tenant)
  // A venue outside the manager's venue_ids is not even visible to it: 404, like a missing one.
  for (const request of [
    { method: 'PUT' as const, url: `${base}/quickbooks?venueId=${theirs}`, payload: { settings: { incomeAccountId: '9999' } }, status: 404, code: 'VENUE_NOT_FOUND' },
    { method: 'PATCH' as const, url: `${base}/quickbooks?venueId=${theirs}`, payload: { settings: { incomeAccountId: '9999' } }, status: 404, code: 'VENUE_NOT_FOUND' },
    { method: 'POST' as const, url: `${base}/quickbooks/versions/1/rollback?venueId=${theirs}`, payload: {}, status: 404, code: 'VENUE_NOT_FOUND' },
    { method: 'POST' as const, url: `${base}/quickbooks/import?venueId=${theirs}`, payload: { settings: {} }, status: 404, code: 'VENUE_NOT_FOUND' },
    { method: 'PUT' as const, url: `${base}/stripe`, payload: { settings: { payoutReporting: false } }, status: 403, code: 'SETTINGS_ACCESS_DENIED' },
  ]) {
    const response = await app.inject({ method: request.method, url: request.url, payload: request.payload, headers: manager })
    assert.deepEqual([response.statusCode, response.json().code], [request.status, request.code], `${request.method} ${request.url}: ${response.body}`)
  }
  for (const path of ['', '/effective', '/versions', '/versions/1', '/export']) {
    const response = await app.inject({ url: `${base}/quickbooks${path}?venueId=${theirs}`, headers: manager })
    assert.deepEqual([response.statusCode, response.json().code], [404, 'VENUE_NOT_FOUND'], `manager reads ${path}`)
  }
  const managerSecret = await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken?venueId=${theirs}`, headers: manager })
  assert.deepEqual([managerSecret.statusCode, managerSecret.json().code], [403, 'INSUFFICIENT_ROLE'])
  const viewerWrite = await app.inject({ method: 'PUT', url: `${base}/stripe`, headers: viewer, payload: { settings: {} } })
  assert.deepEqual([viewerWrite.statusCode, viewerWrite.json().code], [403, 'INSUFFICIENT_ROLE'])
  assert.deepEqual(await rig.storedCounts(tenant), before, 'refused writes store nothing')

  const viewed = await app.inject({ url: `${base}/quickbooks?venueId=${theirs}`, headers: viewer })
  assert.equal(viewed.statusCode, 200, viewed.body)
  assert.ok(viewed.json().settings.webhookVerifierToken.endsWith(secret.slice(-4)) && !viewed.body.includes(secret), 'viewers see secrets masked')
  assert.equal((await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken?venueId=${theirs}`, headers: viewer })).statusCode, 403)
  const limitedViewer = rig.user(tenant, ['viewer'], [mine])
  assert.equal((await app.inject({ url: `${base}/quickbooks?venueId=${theirs}`, headers: limitedViewer })).json().code, 'VENUE_NOT_FOUND')
  assert.equal((await app.inject({ url: `${base}/stripe`, headers: limitedViewer })).statusCode, 200, 'tenant-wide settings are readable by everyone in the tenant')
  assert.equal((await app.inject({ url: `${base}/stripe`, headers: manager })).json().settings.payoutReporting, true)

  const stranger = rig.user(randomUUID(), ['admin'])
  const theirsUrl = (path: string) => `${base}/quickbooks${path}?venueId=${theirs}`
  const foreignDoc = (await app.inject({ url: theirsUrl(''), headers: stranger })).json()
  assert.deepEqual({ version: foreignDoc.version, settings: foreignDoc.settings }, { version: 0, settings: {} }, 'another tenant sees an empty document')
  assert.deepEqual((await app.inject({ url: theirsUrl('/versions'), headers: stranger })).json().data, [])
  assert.deepEqual((await app.inject({ url: theirsUrl('/effective'), headers: stranger })).json().settings, {})
  assert.deepEqual((await app.inject({ url: theirsUrl('/export'), headers: stranger })).json().settings, {})
  for (const request of [
    { method: 'GET' as const, url: theirsUrl('/versions/1'), code: 'SETTINGS_VERSION_NOT_FOUND' },
    { method: 'POST' as const, url: theirsUrl('/versions/1/rollback'), code: 'VENUE_NOT_FOUND' },
    { method: 'GET' as const, url: theirsUrl('/secrets/webhookVerifierToken'), code: 'SECRET_SETTING_NOT_SET' },
  ]) {
    const response = await app.inject({ method: request.method, url: request.url, headers: stranger, ...(request.method === 'POST' ? { payload: {} } : {}) })
    assert.deepEqual([response.statusCode, response.json().code], [404, request.code], request.url)
  }
  assert.deepEqual(await rig.storedCounts(tenant), before, "another tenant's calls leave this tenant untouched")
})

test("settings for a venue that is not one of the caller's tenant answer 404 and store nothing", async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const other = randomUUID()
  const foreignVenue = await rig.venue(other)
  const admin = rig.user(tenant, ['admin'])
  for (const venueId of [randomUUID(), foreignVenue]) {
    for (const request of [
      { method: 'PUT' as const, url: `${base}/stripe?venueId=${venueId}`, payload: { settings: { payoutReporting: true } } },
      { method: 'PATCH' as const, url: `${base}/stripe?venueId=${venueId}`, payload: { settings: { payoutReporting: true } } },
      { method: 'POST' as const, url: `${base}/stripe/import?venueId=${venueId}`, payload: { settings: { payoutReporting: true } } },
    ]) {
      const response = await app.inject({ ...request, headers: admin })
      assert.deepEqual([response.statusCode, response.json().code], [404, 'VENUE_NOT_FOUND'], `${request.method} ${request.url}: ${response.body}`)
    }
  }
  assert.deepEqual(await rig.storedCounts(tenant), { documents: 0, versions: 0, outbox: 0 }, 'no orphan document')
  assert.deepEqual(await rig.storedCounts(other), { documents: 0, versions: 0, outbox: 0 })
})

test('a decrypted secret read is for admins, not cached, and audited as a credential read', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const venue = await rig.venue(tenant)
  const admin = rig.user(tenant, ['admin'])
  const secret = distinctiveSecret('read')
  await app.inject({ method: 'PUT', url: `${base}/quickbooks?venueId=${venue}`, headers: admin, payload: { settings: { webhookVerifierToken: secret } } })
  const before = await rig.outboxCount(tenant)
  const read = await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken?venueId=${venue}`, headers: admin })
  assert.equal(read.statusCode, 200, read.body)
  assert.deepEqual(read.json(), { type: 'quickbooks', venueId: venue, key: 'webhookVerifierToken', version: 1, value: secret })
  assert.equal(read.headers['cache-control'], 'no-store')
  assert.equal(await rig.outboxCount(tenant), before + 1, 'exactly one audit row')
  const [event] = await rig.db.adminQuery<{ action: string; actor_id: string; entity_type: string; after: unknown; request_id: string }>(
    "select action, actor_id, entity_type, after, request_id from integration.audit_outbox where tenant_id = $1 and action = 'settings.secret_read'",
    [tenant],
  )
  assert.deepEqual(
    { action: event?.action, entityType: event?.entity_type, after: event?.after },
    { action: 'settings.secret_read', entityType: 'integration_settings', after: { type: 'quickbooks', venueId: venue, version: 1, settingKey: 'webhookVerifierToken' } },
  )
  assert.ok(event?.actor_id.startsWith('admin-') && event.request_id, 'who and which request')
  assert.equal((await app.inject({ method: 'HEAD', url: `${base}/quickbooks/secrets/webhookVerifierToken?venueId=${venue}`, headers: admin })).statusCode, 404, 'no HEAD twin that would decrypt silently')
})

test('optimistic concurrency: a stale If-Match or expectedVersion is refused with 409 and stores nothing', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const admin = rig.user(tenant, ['admin'])
  const url = `${base}/square`
  const created = await app.inject({ method: 'PUT', url, headers: admin, payload: { settings: { syncSchedule: 'hourly' }, expectedVersion: 0 } })
  assert.equal(created.statusCode, 200, created.body)
  const before = await rig.storedCounts(tenant)
  const stale = await app.inject({ method: 'PUT', url, headers: { ...admin, 'if-match': '"0"' }, payload: { settings: { syncSchedule: 'daily' } } })
  assert.equal(stale.statusCode, 409, stale.body)
  assert.deepEqual({ code: stale.json().code, currentVersion: stale.json().currentVersion }, { code: 'SETTINGS_VERSION_CONFLICT', currentVersion: 1 })
  assert.equal((await app.inject({ method: 'PATCH', url, headers: admin, payload: { settings: { syncSchedule: 'daily' }, expectedVersion: 5 } })).json().code, 'SETTINGS_VERSION_CONFLICT')
  assert.equal((await app.inject({ method: 'POST', url: `${url}/versions/1/rollback`, headers: admin, payload: { expectedVersion: 0 } })).json().code, 'SETTINGS_VERSION_CONFLICT')
  assert.equal((await app.inject({ method: 'POST', url: `${url}/import`, headers: { ...admin, 'if-match': 'W/"3"' }, payload: { settings: {} } })).json().code, 'SETTINGS_VERSION_CONFLICT')
  assert.equal((await app.inject({ method: 'PUT', url, headers: { ...admin, 'if-match': 'yesterday' }, payload: { settings: {} } })).json().code, 'INVALID_PRECONDITION')
  assert.equal((await app.inject({ method: 'PUT', url, headers: { ...admin, 'if-match': '"1"' }, payload: { settings: {}, expectedVersion: 2 } })).json().code, 'INVALID_PRECONDITION')
  assert.deepEqual(await rig.storedCounts(tenant), before, 'conflicts store and audit nothing')

  const etag = (await app.inject({ url, headers: admin })).headers.etag
  assert.equal(etag, '"1"')
  const fresh = await app.inject({ method: 'PATCH', url, headers: { ...admin, 'if-match': String(etag) }, payload: { settings: { locationIds: ['L1'] } } })
  assert.equal(fresh.statusCode, 200, fresh.body)
  assert.equal(fresh.headers.etag, '"2"')

  // Two writers based on the same version: one wins, the other is told.
  const racers = await Promise.all(['L2', 'L3'].map((location) => app.inject({ method: 'PATCH', url, headers: { ...admin, 'if-match': '"2"' }, payload: { settings: { locationIds: [location] } } })))
  assert.deepEqual(racers.map((response) => response.statusCode).sort(), [200, 409])
  const versions = await rig.db.adminQuery<{ version: number }>('select version from integration.integration_settings_versions where tenant_id = $1 order by version', [tenant])
  assert.deepEqual(
    versions.map((row) => row.version),
    [1, 2, 3],
  )
})

test('a distinctive secret never appears in a response body (other than the admin secret read) or in a log line', async (t) => {
  const { app, logs } = await rig.build(t)
  const tenant = randomUUID()
  const venue = await rig.venue(tenant)
  const admin = rig.user(tenant, ['admin'])
  const secret = distinctiveSecret('leak')
  const replacement = distinctiveSecret('leak2')
  const q = `?venueId=${venue}`
  const bodies: string[] = []
  const call = async (method: 'GET' | 'PUT' | 'PATCH' | 'POST', url: string, payload?: object) => {
    const response = await app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) })
    assert.ok(response.statusCode < 500, `${method} ${url}: ${response.body}`)
    bodies.push(response.body)
    return response
  }
  await call('PUT', `${base}/quickbooks${q}`, { settings: { incomeAccountId: '4000', webhookVerifierToken: secret } })
  await call('PATCH', `${base}/quickbooks${q}`, { settings: { webhookVerifierToken: replacement } })
  await call('PUT', `${base}/quickbooks${q}`, { settings: { webhookVerifierToken: secret, unknown: secret } })
  await call('PATCH', `${base}/quickbooks${q}`, { settings: { incomeAccountId: `not an id ${secret}` } })
  await call('PUT', `${base}/quickbooks${q}`, { settings: { webhookVerifierToken: secret }, expectedVersion: 0 })
  await call('GET', `${base}/quickbooks${q}`)
  await call('GET', `${base}/quickbooks/effective${q}`)
  await call('GET', `${base}/quickbooks/versions${q}`)
  await call('GET', `${base}/quickbooks/versions/1${q}`)
  await call('GET', `${base}/quickbooks/export${q}`)
  await call('POST', `${base}/quickbooks/import${q}`, { settings: { incomeAccountId: '4001', webhookVerifierToken: secret } })
  await call('POST', `${base}/quickbooks/versions/2/rollback${q}`, {})
  await call('POST', `${base}/quickbooks/versions/1/rollback${q}`, {})
  const read = await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken${q}`, headers: admin })
  assert.equal(read.json().value, secret, 'the one place it is shown, to an admin')

  for (const body of bodies) {
    assert.ok(!body.includes(secret) && !body.includes(replacement), `no secret in ${body.slice(0, 200)}`)
  }
  assert.ok(logs.length > bodies.length, `requests were logged (${logs.length} lines)`)
  const leaked = logs.filter((line) => line.includes(secret) || line.includes(replacement))
  assert.deepEqual(leaked, [], 'no log line carries the secret')
  const outbox = await rig.db.adminQuery<{ before: unknown; after: unknown }>('select before, after from integration.audit_outbox where tenant_id = $1', [tenant])
  assert.ok(!JSON.stringify(outbox).includes(secret) && !JSON.stringify(outbox).includes(replacement), 'nor any audit row')
})

test('exactly one outbox row per write, rollback, import and secret read; none for reads, exports or refusals', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const admin = rig.user(tenant, ['admin'])
  const url = `${base}/quickbooks`
  const steps: Array<[string, 'GET' | 'PUT' | 'PATCH' | 'POST', string, object | undefined, number]> = [
    ['replace', 'PUT', url, { settings: { incomeAccountId: '4000', webhookVerifierToken: distinctiveSecret('audit') } }, 1],
    ['patch', 'PATCH', url, { settings: { syncSchedule: 'daily' } }, 1],
    ['import', 'POST', `${url}/import`, { settings: { incomeAccountId: '4010' } }, 1],
    ['rollback', 'POST', `${url}/versions/1/rollback`, {}, 1],
    ['secret read', 'GET', `${url}/secrets/webhookVerifierToken`, undefined, 1],
    ['read', 'GET', url, undefined, 0],
    ['effective', 'GET', `${url}/effective`, undefined, 0],
    ['history', 'GET', `${url}/versions`, undefined, 0],
    ['export', 'GET', `${url}/export`, undefined, 0],
    ['invalid write', 'PUT', url, { settings: { nope: 1 } }, 0],
    ['stale write', 'PUT', url, { settings: {}, expectedVersion: 1 }, 0],
    ['missing version', 'POST', `${url}/versions/99/rollback`, {}, 0],
  ]
  for (const [label, method, target, payload, expected] of steps) {
    const before = await rig.outboxCount(tenant)
    const response = await app.inject({ method, url: target, headers: admin, ...(payload ? { payload } : {}) })
    assert.equal(response.statusCode < 300, expected === 1 || method === 'GET', `${label}: ${response.statusCode} ${response.body}`)
    assert.equal(await rig.outboxCount(tenant), before + expected, `${label} leaves ${expected} outbox row(s)`)
  }
  const actions = await rig.db.adminQuery<{ action: string }>('select action from integration.audit_outbox where tenant_id = $1 order by occurred_at', [tenant])
  assert.deepEqual(
    actions.map((row) => row.action),
    ['settings.updated', 'settings.updated', 'settings.imported', 'settings.rolled_back', 'settings.secret_read'],
  )
})

test('a settings import nested thousands deep, or carrying NUL or a lone surrogate, is a 400 and stores nothing', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const admin = rig.user(tenant, ['admin'])
  const deep = `{"settings":{"incomeAccountId":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`
  const tooDeep = await app.inject({ method: 'POST', url: `${base}/quickbooks/import`, headers: { ...admin, 'content-type': 'application/json' }, payload: deep })
  assert.equal(tooDeep.statusCode, 400, tooDeep.body)
  assert.equal(tooDeep.json().code, 'JSON_TOO_DEEP')
  for (const value of ['4000\u0000', '\ud800']) {
    const refused = await app.inject({ method: 'POST', url: `${base}/quickbooks/import`, headers: admin, payload: { settings: { incomeAccountId: value } } })
    assert.equal(refused.statusCode, 400, refused.body)
    assert.equal(refused.json().code, 'INVALID_STRING')
  }
  assert.equal((await app.inject({ url: `${base}/quickbooks`, headers: admin })).json().version, 0, 'nothing was stored')
})
