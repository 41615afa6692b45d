// Liveness (`/health`: the process answers) and readiness (`/ready`: its dependencies answer).
// Load balancers and Kubernetes probes route traffic by these.
import fp from 'fastify-plugin'
import { Type, type Static } from '@sinclair/typebox'

export type ReadinessCheck = () => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    addReadinessCheck(name: string, check: ReadinessCheck): void
  }
}

const CHECK_TIMEOUT_MS = 2_000

const HealthSchema = Type.Object({
  status: Type.Literal('ok'),
  service: Type.String(),
  uptimeSeconds: Type.Number(),
  /** The gateway reports each upstream's readiness here. */
  upstreams: Type.Optional(Type.Record(Type.String(), Type.Object({ status: Type.Union([Type.Literal('up'), Type.Literal('down')]), latencyMs: Type.Number() }))),
})

export type HealthDetails = () => Promise<Omit<Static<typeof HealthSchema>, 'status' | 'service' | 'uptimeSeconds'>>
const ReadySchema = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  checks: Type.Record(Type.String(), Type.Object({ status: Type.Union([Type.Literal('up'), Type.Literal('down')]), error: Type.Optional(Type.String()) })),
})

async function withTimeout(check: ReadinessCheck): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

export default fp(
  async (fastify, opts: { service: string; details?: HealthDetails | undefined }) => {
    const checks = new Map<string, ReadinessCheck>()
    fastify.decorate('addReadinessCheck', (name: string, check: ReadinessCheck) => {
      checks.set(name, check)
    })

    fastify.get('/health', { schema: { tags: ['operations'], summary: 'Liveness', response: { 200: HealthSchema } }, config: { auth: false, rateLimit: false } }, async () => ({
      status: 'ok' as const,
      service: opts.service,
      uptimeSeconds: Math.round(process.uptime()),
      ...(opts.details ? await opts.details() : {}),
    }))

    // Liveness for the kubelet: the process answers, whatever its dependencies (the gateway's /health
    // asks every upstream, and restarting a gateway because venue-service is down helps no one).
    fastify.get('/live', { schema: { tags: ['operations'], summary: 'Liveness without dependencies', response: { 200: Type.Object({ status: Type.Literal('ok') }) } }, config: { auth: false, rateLimit: false } }, async () => ({
      status: 'ok' as const,
    }))

    fastify.get(
      '/ready',
      { schema: { tags: ['operations'], summary: 'Readiness: Postgres, Redis and other dependencies', response: { 200: ReadySchema, 503: ReadySchema } }, config: { auth: false, rateLimit: false } },
      async (_request, reply) => {
        const results = await Promise.all(
          [...checks].map(async ([name, check]) => {
            try {
              await withTimeout(check)
              return [name, { status: 'up' as const }] as const
            } catch (error) {
              // Only the error's message: enough to act on, no connection strings.
              return [name, { status: 'down' as const, error: (error as Error).message.replace(/\/\/[^@\s]*@/g, '//') }] as const
            }
          }),
        )
        const ready = results.every(([, result]) => result.status === 'up')
        reply.code(ready ? 200 : 503)
        return { status: ready ? ('ready' as const) : ('unavailable' as const), checks: Object.fromEntries(results) }
      },
    )
  },
  { name: '@hub/health', fastify: '5.x' },
)
