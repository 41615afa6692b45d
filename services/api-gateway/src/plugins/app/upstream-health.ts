// GET /health on the gateway also tells whether each upstream is ready.
import { request } from 'undici'
import type { Upstream } from './upstreams.ts'

export function upstreamHealth(upstreams: Upstream[]) {
  return async () => {
    const entries = await Promise.all(
      upstreams.map(async (upstream) => {
        const started = performance.now()
        try {
          const response = await request(`${upstream.url}/ready`, { headersTimeout: 1_500, bodyTimeout: 1_500 })
          await response.body.dump()
          return [upstream.name, { status: response.statusCode === 200 ? ('up' as const) : ('down' as const), latencyMs: Math.round(performance.now() - started) }] as const
        } catch {
          return [upstream.name, { status: 'down' as const, latencyMs: Math.round(performance.now() - started) }] as const
        }
      }),
    )
    return { upstreams: Object.fromEntries(entries) }
  }
}
