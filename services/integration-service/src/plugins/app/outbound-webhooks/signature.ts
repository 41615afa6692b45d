// Standard Webhooks signing (https://www.standardwebhooks.com): secrets are `whsec_` + base64 of
// random bytes; a delivery's `webhook-signature` holds one `v1,<base64 HMAC-SHA256>` entry per
// secret in use, space-separated, each over `<webhook-id>.<webhook-timestamp>.<body>`.
import { createHmac, randomBytes } from 'node:crypto'

export const SECRET_PREFIX = 'whsec_'

/** 32 random bytes: inside the spec's 24 to 64. */
export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`
}

export function signPayload(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/** The headers of one delivery; every secret given signs it (during a rotation overlap, two). */
export function signedHeaders(secrets: string[], id: string, timestamp: number, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((secret) => signPayload(secret, id, timestamp, body)).join(' '),
  }
}
