import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { generateKey } from '@hub/crypto'
import { KeyRing } from '@hub/crypto'
import { bearer, testToken } from '@hub/service-kit/testing'
import { rotateConnectionSecrets } from '../../src/plugins/app/secrets/connection-key-rotation.ts'
import { setupRig } from './rig.ts'

const rig = await setupRig()
const tenant = randomUUID()
const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))

test('rotation from key 1 to key 2: connections keep working, key 1 can then leave the ring, and a missing key refuses start-up', async () => {
  const key1 = generateKey()
  const key2 = generateKey()
  const ring1 = JSON.stringify({ 1: key1 })
  const ring12 = JSON.stringify({ 1: key1, 2: key2 })
  const ring2 = JSON.stringify({ 2: key2 })

  const v1 = await rig.build({ ENCRYPTION_KEYS: ring1 })
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const venueId = await rig.createVenue(tenant)
    const created = await v1.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: `sk_test_rotation${i}${randomUUID().replaceAll('-', '')}` } } })
    assert.equal(created.statusCode, 201, created.body)
    ids.push(created.json().id)
  }
  await assert.rejects(rig.build({ ENCRYPTION_KEYS: ring2 }), /key version\(s\) 1/, 'a ring without key 1 refuses to start while key-1 secrets exist')

  const both = await rig.build({ ENCRYPTION_KEYS: ring12 })
  const progress: Array<[number, number]> = []
  const rotated = await rotateConnectionSecrets(both.db, KeyRing.fromEnv(ring12), ({ done, total }) => progress.push([done, total]))
  assert.equal(rotated, 3)
  assert.deepEqual(progress.at(-1), [3, 3])
  assert.equal(await rotateConnectionSecrets(both.db, KeyRing.fromEnv(ring12)), 0, 'a second run has nothing to do')
  const versions = await rig.db.adminQuery<{ min_key_version: number }>('select distinct min_key_version from integration.connections where id = any($1::uuid[])', [ids])
  assert.deepEqual(versions, [{ min_key_version: 2 }])

  const v2 = await rig.build({ ENCRYPTION_KEYS: ring2 })
  for (const id of ids) {
    const tested = await v2.inject({ method: 'POST', url: `/api/v1/integrations/connections/${id}/test`, headers: admin })
    assert.equal(tested.json().ok, true, `works under key 2 alone: ${tested.body}`)
  }
  await assert.rejects(rig.build({ ENCRYPTION_KEYS: ring1 }), /key version\(s\) 2/)
})
