// Throughput of the secret box for a credential-sized value: how many envelopes per second one
// process can write and open. Figures only; nothing is asserted.
import { KeyRing, decryptSecret, encryptSecret, generateKeyRingJson } from '../../packages/crypto/src/index.ts'
import type { SecretAad } from '../../packages/crypto/src/index.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ring = KeyRing.fromEnv(generateKeyRingJson([1]))
const aad: SecretAad = {
  tenantId: '7d0c5a4e-0000-4000-8000-000000000001',
  rowId: '4f1c2a9e-0000-4000-8000-00000000000a',
  field: 'api_key',
}
const secret = 'sk_test_51HqLyjWDarjtT1zdp7dcXGMe9f2a0b1' // 40 bytes, the size of a Stripe key

function measure(name: string, op: () => unknown): void {
  // Warm up so the JIT and OpenSSL contexts are hot before the clock starts.
  for (let i = 0; i < 2000; i++) op()
  const deadline = performance.now() + SECONDS * 1000
  let ops = 0
  const start = performance.now()
  // Check the clock every 256 calls so reading it does not dominate the measurement.
  while (performance.now() < deadline) {
    for (let i = 0; i < 256; i++) op()
    ops += 256
  }
  const elapsed = (performance.now() - start) / 1000
  const perSecond = Math.round(ops / elapsed)
  console.log(`${name.padEnd(8)} ${perSecond.toLocaleString('en-US').padStart(10)} ops/s  (${ops.toLocaleString('en-US')} ops in ${elapsed.toFixed(2)} s)`)
}

const envelope = encryptSecret(ring, secret, aad)
if (decryptSecret(ring, envelope, aad) !== secret) throw new Error('round trip failed')

console.log(`aes-256-gcm secret box, ${Buffer.byteLength(secret)}-byte secret, ${SECONDS} s each, node ${process.version}`)
measure('encrypt', () => encryptSecret(ring, secret, aad))
measure('decrypt', () => decryptSecret(ring, envelope, aad))
