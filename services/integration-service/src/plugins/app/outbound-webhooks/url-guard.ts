// Where a tenant's webhook may go. A tenant chooses the URL, so without this the hub would make
// requests on its behalf to its own network: the cloud metadata service, Redis, the internal API.
// Every address a name resolves to must be public unicast, checked at registration and again at
// each delivery, and the connection is then made to the address that was checked (the lookup is
// pinned), so a name that resolves differently a second later (DNS rebinding) cannot slip through.
import { lookup as dnsLookup } from 'node:dns/promises'
import type { LookupFunction } from 'node:net'
import ipaddr from 'ipaddr.js'
import { Agent } from 'undici'

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

/** Every address a host name resolves to (tests swap in their own). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>

export const systemResolver: Resolver = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true })
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }))
}

export type RefusalReason = 'invalid_url' | 'scheme' | 'credentials_in_url' | 'unresolvable' | 'blocked_address'

export class UrlRefusedError extends Error {
  readonly reason: RefusalReason
  readonly host: string
  /** The range the refused address falls in (loopback, linkLocal, private…), for the security event. */
  readonly range: string | undefined
  constructor(reason: RefusalReason, host: string, range?: string) {
    super(`outbound webhook URL refused: ${reason}${range ? ` (${range})` : ''}`)
    this.name = 'UrlRefusedError'
    this.reason = reason
    this.host = host
    this.range = range
  }
}

/**
 * The address's range by ipaddr.js, after unwrapping IPv4-mapped IPv6 (`::ffff:127.0.0.1` is
 * loopback). Only `unicast` (public) passes: loopback, private, link-local (169.254.169.254, the
 * metadata service), unique-local, CGNAT, multicast, broadcast, unspecified, reserved and the
 * IPv6 forms that embed an IPv4 address (NAT64, 6to4, Teredo) are all refused.
 */
export function addressRange(address: string): string {
  return ipaddr.process(address).range()
}

export const isPublicAddress = (address: string): boolean => ipaddr.isValid(address) && addressRange(address) === 'unicast'

export interface CheckedUrl {
  url: URL
  /** The address the connection must go to. */
  pinned: ResolvedAddress
}

export interface UrlGuardOptions {
  resolver?: Resolver
  /** `host` or `host:port` entries that may resolve to non-public addresses (development only). */
  allowedHosts?: string[]
}

export function createUrlGuard(options: UrlGuardOptions = {}) {
  const resolve = options.resolver ?? systemResolver
  const allowed = new Set((options.allowedHosts ?? []).map((entry) => entry.trim().toLowerCase()).filter(Boolean))

  /** Parses, resolves and classifies; throws UrlRefusedError. */
  async function check(raw: string): Promise<CheckedUrl> {
    let url: URL
    try {
      // WHATWG parsing normalises IPv4 literals in every form: 2130706433, 0x7f000001 and 0177.0.0.1 all become 127.0.0.1.
      url = new URL(raw)
    } catch {
      throw new UrlRefusedError('invalid_url', '')
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UrlRefusedError('scheme', url.hostname)
    // Credentials in a URL would be stored and shown in clear; the signature authenticates us instead.
    if (url.username !== '' || url.password !== '') throw new UrlRefusedError('credentials_in_url', url.hostname)
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
    const port = url.port || (url.protocol === 'https:' ? '443' : '80')
    const exempt = allowed.has(host) || allowed.has(`${host}:${port}`) || allowed.has(`${url.hostname.toLowerCase()}:${port}`)
    let addresses: ResolvedAddress[]
    if (ipaddr.isValid(host)) {
      addresses = [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }]
    } else {
      try {
        addresses = await resolve(host)
      } catch {
        throw new UrlRefusedError('unresolvable', host)
      }
      if (addresses.length === 0) throw new UrlRefusedError('unresolvable', host)
    }
    if (!exempt) {
      // Any non-public answer refuses the name: a resolver may hand either address to the next lookup.
      const blocked = addresses.find((entry) => !isPublicAddress(entry.address))
      if (blocked) throw new UrlRefusedError('blocked_address', host, ipaddr.isValid(blocked.address) ? addressRange(blocked.address) : 'invalid')
    }
    return { url, pinned: addresses[0] as ResolvedAddress }
  }

  return { check }
}

export type UrlGuard = ReturnType<typeof createUrlGuard>

/**
 * A dispatcher whose every connection goes to the checked address, whatever the name resolves to
 * by then. TLS still verifies the certificate against the URL's host name (SNI is the name).
 */
export function pinnedDispatcher(pinned: ResolvedAddress, timeoutMs: number): Agent {
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) callback(null, [{ address: pinned.address, family: pinned.family }])
    else callback(null, pinned.address, pinned.family)
  }
  return new Agent({ connect: { lookup, timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connections: 1, pipelining: 0 })
}
