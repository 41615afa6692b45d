// bench/internal-auth: req/s of GET /internal/sync-logs/venue/:id signed (fresh signature and
// nonce on every request, verified with the Redis nonce check) versus the same handler unsigned,
// in one run, plus the pure sign/verify cost.
import { randomUUID } from 'node:crypto'
import autocannon, { type Options, type Request } from 'autocannon'
import { createTestDatabase } from '@hub/service-kit/testing'
import { generateKeyRingJson } from '@hub/crypto'
import { signRequest } from '@hub/internal-auth'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { figuresOf, fmt, freePort, startService, stopAll, waitFor } from '../support.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
const KEYS = { 'compliance-service': { k1: 'bench-compliance-secret-0001' }, 'integration-service': { k1: 'bench-integration-secret-001' } }

export async function run() {
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
  const port = await freePort()
  const venueId = randomUUID()
  const child = startService('bench/internal-auth/bench-server.ts', {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    BENCH_PORT: String(port),
    DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `hubbench:${randomUUID().slice(0, 8)}:`,
    JWT_SECRET: `bench-${randomUUID()}-${randomUUID()}`,
    INTERNAL_AUTH_KEYS: JSON.stringify(KEYS),
    ENCRYPTION_KEYS: generateKeyRingJson([1]),
    COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
  })
  try {
    await waitFor(`http://127.0.0.1:${port}/ready`)
    const signedPath = `/internal/sync-logs/venue/${venueId}`
    const measure = async (label: string, path: string, signed: boolean) => {
      const options: Options = {
        url: `http://127.0.0.1:${port}`,
        connections: 50,
        requests: [
          {
            method: 'GET' as const,
            path,
            // A fresh timestamp and nonce per request, as a real caller sends.
            ...(signed
              ? {
                  setupRequest: (request: Request): Request => ({
                    ...request,
                    headers: {
                      ...(request.headers as Record<string, string> | undefined),
                      ...(signRequest({ service: 'compliance-service', keyId: 'k1', secret: KEYS['compliance-service'].k1, method: 'GET', pathWithQuery: path }) as unknown as Record<string, string>),
                    },
                  }),
                }
              : {}),
          },
        ],
      }
      await autocannon({ ...options, duration: 2 })
      const result = await autocannon({ ...options, duration: DURATION })
      return { label, ...figuresOf(label, result) }
    }
    const unsigned = await measure('unsigned', `/bench/unsigned/sync-logs/venue/${venueId}`, false)
    const signed = await measure('signed (HMAC v1)', signedPath, true)
    const started = performance.now()
    const iterations = 20_000
    for (let i = 0; i < iterations; i++) signRequest({ service: 'compliance-service', keyId: 'k1', secret: KEYS['compliance-service'].k1, method: 'GET', pathWithQuery: signedPath })
    const signMicros = ((performance.now() - started) * 1000) / iterations
    console.log(`\nbench/internal-auth — GET /internal/sync-logs/venue/:id, 50 connections, ${DURATION} s each`)
    for (const r of [unsigned, signed]) console.log(`  ${r.label.padEnd(18)} ${fmt(r.rps).padStart(8)} req/s   p50 ${fmt(r.p50, 1)} ms   p99 ${fmt(r.p99, 1)} ms`)
    console.log(`  signing costs ${fmt(signMicros, 1)} µs per request; signed keeps ${fmt((signed.rps / unsigned.rps) * 100, 1)}% of unsigned throughput`)
    return { unsigned, signed, signMicros }
  } finally {
    await stopAll([child])
    await db.drop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
