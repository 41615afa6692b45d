// Per-request cost of internal request signing: what signRequest adds on the caller and what
// verifySignature (plus the body hash) adds on the receiver, Redis round trip excluded.
import { bodySha256, signRequest, verifySignature } from '../../packages/internal-auth/src/index.ts'

const ITERATIONS = Number(process.env.ITERATIONS ?? 50_000)
const secret = 'bench-secret-0123456789abcdef'
const service = 'compliance-service'
const pathWithQuery = '/internal/sync-logs/venue/4f1c2a9e-0000-4000-8000-000000000001?limit=100'
const body = JSON.stringify({ events: Array.from({ length: 10 }, (_, i) => ({ id: i, action: 'venue.update', note: 'x'.repeat(64) })) })

function measure(label: string, fn: (i: number) => unknown): void {
  for (let i = 0; i < 2_000; i++) fn(i) // warm-up so the JIT is not what we measure
  const start = process.hrtime.bigint()
  let sink = 0
  for (let i = 0; i < ITERATIONS; i++) sink += fn(i) ? 1 : 0
  const micros = Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS
  console.log(`${label.padEnd(44)} ${micros.toFixed(2).padStart(8)} µs/op  (${ITERATIONS} ops, sink ${sink})`)
}

const signedGet = signRequest({ service, keyId: 'k1', secret, method: 'GET', pathWithQuery })
const signedPost = signRequest({ service, keyId: 'k1', secret, method: 'POST', pathWithQuery, body })

console.log(`body for POST cases: ${Buffer.byteLength(body)} bytes`)
measure('signRequest GET (no body)', () => signRequest({ service, keyId: 'k1', secret, method: 'GET', pathWithQuery }))
measure('signRequest POST (with body)', () => signRequest({ service, keyId: 'k1', secret, method: 'POST', pathWithQuery, body }))
measure('verify GET (body hash + HMAC + compare)', () =>
  verifySignature({
    secret,
    service,
    method: 'GET',
    pathWithQuery,
    timestamp: signedGet['x-internal-timestamp'],
    nonce: signedGet['x-internal-nonce'],
    bodySha256: bodySha256(undefined),
    signature: signedGet['x-internal-signature'],
  }),
)
measure('verify POST (body hash + HMAC + compare)', () =>
  verifySignature({
    secret,
    service,
    method: 'POST',
    pathWithQuery,
    timestamp: signedPost['x-internal-timestamp'],
    nonce: signedPost['x-internal-nonce'],
    bodySha256: bodySha256(body),
    signature: signedPost['x-internal-signature'],
  }),
)
