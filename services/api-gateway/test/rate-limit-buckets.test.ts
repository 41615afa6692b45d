import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bearer, testToken } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()

test('classifies percent-encoded, doubled-slash and upper-case spellings of a credential route into the sensitive bucket', async () => {
  const gateway = await build({ RATE_LIMIT_USER_MAX: '100', RATE_LIMIT_SENSITIVE_MAX: '2' })
  const writer = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'], sub: `bucket-${randomUUID()}` }))
  const spellings = ['/api/v1/integrations/%63onnections/x', '/api/v1/integrations//connections/x', '/api/v1/integrations/%43ONNECTIONS/x', '/api/v1/integrations/%73ettings/stripe']
  const statuses: number[] = []
  for (const url of spellings) statuses.push((await gateway.inject({ method: 'POST', url, headers: writer, payload: {} })).statusCode)
  assert.deepEqual(statuses, [200, 200, 429, 429])
  // Reads are not sensitive, however they are spelled.
  assert.equal((await gateway.inject({ url: '/api/v1/integrations/%63onnections/x', headers: writer })).statusCode, 200)
})
