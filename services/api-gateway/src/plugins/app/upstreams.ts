// The services behind the gateway, and the public paths each one answers.
import type { GatewayConfig } from '../../config.ts'

export interface Upstream {
  name: string
  url: string
  /** Public prefixes proxied to this upstream, unchanged. */
  prefixes: string[]
}

export function upstreamsFrom(config: GatewayConfig): Upstream[] {
  return [
    { name: 'venue-service', url: config.VENUE_SERVICE_URL, prefixes: ['/api/v1/venues'] },
    { name: 'integration-service', url: config.INTEGRATION_SERVICE_URL, prefixes: ['/api/v1/integrations'] },
    { name: 'compliance-service', url: config.COMPLIANCE_SERVICE_URL, prefixes: ['/api/v1/compliance'] },
  ]
}

/**
 * The path as the upstream's router will see it: percent-decoded (find-my-way decodes before
 * matching, so `%63onnections` reaches the connections routes), duplicate slashes collapsed and
 * lower-cased. Classifying on the raw URL let an encoded letter move a request into a laxer bucket.
 */
export function normalisedPath(url: string): string {
  const raw = url.split('?')[0] ?? url
  let decoded = raw
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    // Malformed escapes are refused by the router anyway; classify what was sent.
  }
  return decoded.replace(/\/{2,}/g, '/').toLowerCase()
}

/** Credential and configuration writes get a stricter budget (`path` normalised). */
export const isSensitive = (method: string, path: string): boolean => method !== 'GET' && method !== 'HEAD' && /^\/api\/v1\/integrations\/(connections|settings|oauth|field-mappings)(\/|$)/.test(path)
