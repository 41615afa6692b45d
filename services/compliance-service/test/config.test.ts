import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../src/config.ts'

const seed = (fill: number): string => JSON.stringify({ 1: Buffer.alloc(32, fill).toString('base64') })

// Just enough of a production environment for the signing-key rule to be what is judged.
const production = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://hub_compliance:pw@db.internal:5432/venue_hub',
  REDIS_URL: 'rediss://:pw@redis.internal:6380',
  INTERNAL_AUTH_KEYS: JSON.stringify({ 'compliance-service': { k1: 'k'.repeat(40) } }),
  JWT_JWKS_URL: 'https://id.example.com/.well-known/jwks.json',
  JWT_ISSUER: 'https://id.example.com/',
  JWT_AUDIENCE: 'venue-hub',
}

const problemsOf = (env: Record<string, string>): string => {
  try {
    loadConfig(env)
    return ''
  } catch (error) {
    return (error as Error).message
  }
}

test('production refuses to start without a kept audit signing key', () => {
  assert.match(problemsOf(production), /AUDIT_SIGNING_KEYS: required in production/)
  assert.doesNotMatch(problemsOf({ ...production, AUDIT_SIGNING_KEYS: seed(1) }), /AUDIT_SIGNING_KEYS/)
})

test('outside production the key may be left out (one is made at start-up)', () => {
  assert.doesNotMatch(problemsOf({ ...production, NODE_ENV: 'development' }), /AUDIT_SIGNING_KEYS/)
})

test('a malformed signing key ring is refused, without echoing the seed', () => {
  const message = problemsOf({ ...production, AUDIT_SIGNING_KEYS: '{"1":"c2VjcmV0LXNlZWQ="}' })
  assert.match(message, /AUDIT_SIGNING_KEYS/)
  assert.doesNotMatch(message, /c2VjcmV0LXNlZWQ=/)
})
