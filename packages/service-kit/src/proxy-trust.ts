// Which peers may speak for the client: the gateway forwards the client's address
// (X-Forwarded-For) and its request id, and a service believes them only from a trusted peer.
import { BlockList, isIP } from 'node:net'

/** What Fastify's `trustProxy` takes: a hop count, or the addresses and CIDRs of trusted proxies. */
export type TrustProxy = false | number | string[]

const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

/** Problems with a TRUST_PROXY value (empty when it is valid). */
export function trustProxyProblems(value: string): string[] {
  const spec = value.trim().toLowerCase()
  if (spec === 'false' || spec === 'none' || /^\d{1,2}$/.test(spec)) return []
  const problems: string[] = []
  for (const entry of spec.split(',').map((e) => e.trim())) {
    if (NAMED[entry]) continue
    const [address = '', prefix] = entry.split('/')
    const family = isIP(address)
    const maxPrefix = family === 4 ? 32 : 128
    if (family === 0 || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix))) problems.push(`TRUST_PROXY: "${entry}" is not an IP address, a CIDR, loopback, linklocal or uniquelocal`)
  }
  return problems
}

/**
 * TRUST_PROXY: `false`/`none`, a hop count (`1`: the peer is the proxy), or a comma-separated list
 * of addresses, CIDRs and the names loopback, linklocal, uniquelocal. Unset: loopback outside
 * production (the dev stack's gateway), nothing in production.
 */
export function trustProxyOption(config: { NODE_ENV?: string; TRUST_PROXY?: string | undefined }): TrustProxy {
  const spec = config.TRUST_PROXY?.trim().toLowerCase()
  if (!spec) return config.NODE_ENV === 'production' ? false : ['loopback']
  if (spec === 'false' || spec === 'none') return false
  if (/^\d{1,2}$/.test(spec)) return Number(spec)
  return spec.split(',').map((e) => e.trim())
}

/** Whether a direct peer is a trusted proxy under `trust`. */
export function peerTrusted(trust: TrustProxy, address: string | undefined): boolean {
  if (trust === false || !address) return false
  if (typeof trust === 'number') return trust > 0
  const list = new BlockList()
  for (const entry of trust.flatMap((e) => NAMED[e] ?? [e])) {
    const [ip = '', prefix] = entry.split('/')
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4'
    if (prefix === undefined) list.addAddress(ip, type)
    else list.addSubnet(ip, Number(prefix), type)
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  const peer = mapped?.[1] ?? address
  return list.check(peer, isIP(peer) === 6 ? 'ipv6' : 'ipv4')
}
