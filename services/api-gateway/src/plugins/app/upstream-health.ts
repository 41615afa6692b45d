// GET /health on the gateway also tells whether each upstream is ready.
import { request } from 'undici'
import type { Upstream } from './upstreams.ts'

interface UpstreamsHealth {
  upstreams: Record<string, { status: 'up' | 'down'; latencyMs: number }>
}

/**
 * `/health` is public and never rate-limited, so one check runs at a time and its answer is reused
 * for `maxAgeMs` after it ends: a flood of health calls must not become three `/ready` calls (each
 * a Postgres, Redis and migrations check) per request on the services behind.
 */
export function upstreamHealth(upstreams: Upstream[], maxAgeMs = 1_000): () => Promise<UpstreamsHealth> {
  let running: Promise<UpstreamsHealth> | undefined
  let last: { at: number; answer: UpstreamsHealth } | undefined
  return () => {
    if (running) return running
    if (last && performance.now() - last.at < maxAgeMs) return Promise.resolve(last.answer)
    running = check(upstreams).then((answer) => {
      last = { at: performance.now(), answer }
      running = undefined
      return answer
    })
    return running
  }
}

async function check(upstreams: Upstream[]): Promise<UpstreamsHealth> {
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
