// A timestamp passes for 2 × maxSkew + 1 seconds (whole seconds, inclusive bounds): a request first
// seen at the very start of its window must still be refused as a replay in the window's last second.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { signRequest } from '../src/index.ts'
import { buildApp, connectRedis, deleteKeys, SECRET_A1, SERVICE_A, uniquePrefix } from './helpers.ts'

const PATH = '/internal/sync-logs/venue/4f1c2a9e-0000-4000-8000-000000000001?limit=100'

test("a request seen at the start of its timestamp's window is refused as a replay at the window's end", async () => {
  const redis = connectRedis()
  const prefix = uniquePrefix()
  const ts = 1767225600
  const maxSkewSeconds = 2
  const start = Date.now()
  // The caller's clock was maxSkew ahead: the receiver reads ts - maxSkew when the request arrives,
  // and its clock runs on in real time.
  const app = await buildApp({ redis, noncePrefix: prefix, maxSkewSeconds, now: () => (ts - maxSkewSeconds) * 1000 + (Date.now() - start) })
  try {
    const headers = signRequest({ service: SERVICE_A, keyId: 'k1', secret: SECRET_A1, method: 'GET', pathWithQuery: PATH, timestamp: ts })
    const first = await app.inject({ url: PATH, headers })
    assert.equal(first.statusCode, 200, first.body)
    // Past 2 × maxSkew, still inside the timestamp's last accepted second (ts + maxSkew).
    await sleep(2 * maxSkewSeconds * 1000 + 300)
    const replay = await app.inject({ url: PATH, headers })
    assert.equal(replay.statusCode, 401, replay.body)
    assert.equal((replay.json() as { code: string }).code, 'INTERNAL_AUTH_REPLAY')
  } finally {
    await app.close()
    await deleteKeys(redis, prefix)
    await redis.quit()
  }
})
