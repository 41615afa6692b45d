import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { DecryptionError, KeyRing, generateKey } from '@hub/crypto'
import { createDatabase, createFastify, createKnex, systemRoleOf } from '@hub/service-kit'
import integrationService, { SERVICE_NAME } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'
import { rotateSettingsSecrets } from '../../src/plugins/app/secrets/settings-key-rotation.ts'
import { distinctiveSecret, setupSettingsRig } from './settings-rig.ts'

const rig = await setupSettingsRig()
const base = '/api/v1/integrations/settings'
const keyOne = JSON.parse(rig.env.ENCRYPTION_KEYS ?? '{}') as Record<string, string>
const keyTwo = generateKey()
const ringJson = (keys: Record<string, string>) => JSON.stringify(keys)

test('rotation re-encrypts every version under the newest key, resumably; the old key can then leave the ring', async (t) => {
  const tenant = randomUUID()
  const venue = await rig.venue(tenant)
  const first = distinctiveSecret('rot1')
  const second = distinctiveSecret('rot2')
  {
    const { app } = await rig.build(t)
    const admin = rig.user(tenant, ['admin'])
    for (const secret of [first, second]) {
      const response = await app.inject({ method: 'PUT', url: `${base}/quickbooks?venueId=${venue}`, headers: admin, payload: { settings: { incomeAccountId: '4000', webhookVerifierToken: secret } } })
      assert.equal(response.statusCode, 200, response.body)
    }
  }
  const both = ringJson({ ...keyOne, '2': keyTwo })
  const knex = createKnex(rig.db.urlFor(INTEGRATION_SCHEMA.appRole), { poolMax: 2 })
  t.after(() => knex.destroy())
  const progress: Array<{ done: number; total: number }> = []
  const rotated = await rotateSettingsSecrets(createDatabase(knex, { systemRole: systemRoleOf(INTEGRATION_SCHEMA.appRole) }), KeyRing.fromEnv(both), (step) => progress.push(step))
  assert.equal(rotated, 2, 'both versions re-encrypted')
  assert.deepEqual(progress.at(-1), { done: 2, total: 2 }, 'progress is reported')
  assert.equal(await rotateSettingsSecrets(createDatabase(knex, { systemRole: systemRoleOf(INTEGRATION_SCHEMA.appRole) }), KeyRing.fromEnv(both)), 0, 'a rerun has nothing left to do')
  const versions = await rig.db.adminQuery<{ min_key_version: number }>('select min_key_version from integration.integration_settings_versions where tenant_id = $1', [tenant])
  assert.deepEqual(
    versions.map((row) => row.min_key_version),
    [2, 2],
  )

  const { app } = await rig.build(t, { ENCRYPTION_KEYS: ringJson({ '2': keyTwo }) })
  assert.equal((await app.settingsService.effective(tenant, venue, 'quickbooks')).webhookVerifierToken, second, 'readable with key 2 alone')
  const admin = rig.user(tenant, ['admin'])
  const rolled = await app.inject({ method: 'POST', url: `${base}/quickbooks/versions/1/rollback?venueId=${venue}`, headers: admin })
  assert.equal(rolled.statusCode, 200, rolled.body)
  assert.equal((await app.settingsService.effective(tenant, venue, 'quickbooks')).webhookVerifierToken, first, 'old versions were rotated too')
})

test('the service refuses to start when a secret setting is sealed with a key missing from the ring', async () => {
  // After the rotation above every stored secret setting is under key 2; a ring without it must not start.
  const rings: Array<Record<string, string>> = [{ '1': keyOne['1'] ?? '' }, { '3': generateKey() }]
  for (const keys of rings) {
    const app = createFastify({ service: SERVICE_NAME, logLevel: 'silent' })
    try {
      await app.register(integrationService, { config: loadConfig({ ...rig.env, ENCRYPTION_KEYS: ringJson(keys) }) })
      await app.ready().then(
        () => assert.fail(`started with key version(s) ${Object.keys(keys).join(', ')} only`),
        (error: Error) => assert.match(error.message, /key version\(s\) 2\b/, 'names the missing version'),
      )
    } finally {
      await app.close()
    }
  }
})

test('a ciphertext moved to another settings row does not decrypt', async (t) => {
  const { app } = await rig.build(t, { ENCRYPTION_KEYS: ringJson({ '2': keyTwo }) })
  const tenant = randomUUID()
  const [venueA, venueB] = [await rig.venue(tenant), await rig.venue(tenant)]
  const admin = rig.user(tenant, ['admin'])
  const secret = distinctiveSecret('moved')
  await app.inject({ method: 'PUT', url: `${base}/quickbooks?venueId=${venueA}`, headers: admin, payload: { settings: { webhookVerifierToken: secret } } })
  await app.inject({ method: 'PUT', url: `${base}/quickbooks?venueId=${venueB}`, headers: admin, payload: { settings: { webhookVerifierToken: distinctiveSecret('other') } } })
  await rig.db.adminQuery(
    `update integration.integration_settings_versions b set secrets = a.secrets
       from integration.integration_settings_versions a, integration.integration_settings sa, integration.integration_settings sb
      where a.settings_id = sa.id and sa.venue_id = $1 and b.settings_id = sb.id and sb.venue_id = $2`,
    [venueA, venueB],
  )
  await assert.rejects(app.settingsService.effective(tenant, venueB, 'quickbooks'), DecryptionError, 'bound to its own row')
  const read = await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken?venueId=${venueB}`, headers: admin })
  assert.equal(read.statusCode, 500)
  assert.equal(read.json().code, 'INTERNAL_ERROR')
  assert.ok(!read.body.includes(secret), 'nothing leaks from the failure')
  assert.equal((await app.settingsService.effective(tenant, venueA, 'quickbooks')).webhookVerifierToken, secret, 'the original still opens')
  // Leave the database rotatable for any later test: drop the tampered row's secrets.
  await rig.db.adminQuery("update integration.integration_settings_versions v set secrets = '{}'::jsonb, min_key_version = null from integration.integration_settings s where v.settings_id = s.id and s.venue_id = $1", [venueB])
})
