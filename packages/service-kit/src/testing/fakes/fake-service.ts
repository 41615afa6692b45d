// What every fake service shares: a small Fastify app that checks internal signatures with
// @hub/internal-auth exactly as the real service does (same keys, nonces in Redis, the real
// service's permission table), validates requests against the @hub/contracts schemas its routes
// declare, answers errors as problem documents, and can be stopped and started again on the same
// port with its state kept (a service that goes down and comes back).
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type RawServerDefault } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Redis } from 'ioredis'
import { internalAuth, parseInternalAuthKeys, type InternalAuthRefusal } from '@hub/internal-auth'
import { toProblem } from '../../plugins/error-handler.ts'
import { PROBLEM_CONTENT_TYPE } from '@hub/contracts'
import { TEST_INTERNAL_KEYS, TEST_REDIS_URL, freePort } from '../index.ts'

export type TypedFakeApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>

/** One request the fake answered: enough for a test to say what reached the other service. */
export interface ReceivedRequest {
  method: string
  url: string
  /** The verified caller on internal routes, null elsewhere. */
  caller: string | null
  headers: Record<string, string | string[] | undefined>
  status: number
}

export interface FakeServiceOptions {
  /** The real service's name: the `source` of the refusals it records. */
  service: string
  /** Which caller holds which permission on its internal routes: the real service's table. */
  permissions: Readonly<Record<string, readonly string[]>>
  /** The test file's Redis prefix (nonces live under it and are deleted with it). */
  redisPrefix: string
  /** Registers the fake's routes on each start. */
  routes: (app: TypedFakeApp) => void
}

export interface FakeService {
  /** Base URL (fixed at the first start, so the caller can be configured before it). */
  readonly url: string
  readonly received: ReceivedRequest[]
  /** Refused internal calls, as the real service would report them. */
  readonly refusals: InternalAuthRefusal[]
  start(): Promise<string>
  /** Stops listening; `start()` again brings it back on the same port with the same state. */
  stop(): Promise<void>
  readonly running: boolean
}

export async function createFakeService(options: FakeServiceOptions): Promise<FakeService> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const keys = parseInternalAuthKeys(JSON.stringify(TEST_INTERNAL_KEYS))
  const received: ReceivedRequest[] = []
  const refusals: InternalAuthRefusal[] = []
  let app: TypedFakeApp | undefined

  const build = async (): Promise<TypedFakeApp> => {
    const fastify = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>()
    const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
    fastify.addHook('onClose', async () => {
      redis.disconnect()
    })
    await fastify.register(internalAuth, {
      keys,
      permissions: options.permissions,
      redis,
      noncePrefix: `${options.redisPrefix}fake-${options.service}:nonce:`,
      source: options.service,
      onRefusal: (refusal) => {
        refusals.push(refusal)
      },
    })
    fastify.setErrorHandler((error, request, reply) => {
      const problem = toProblem(error as FastifyError, request)
      return reply
        .code(problem.status)
        .type(PROBLEM_CONTENT_TYPE)
        .serializer(JSON.stringify)
        .send({ ...problem, requestId: String(request.id) })
    })
    fastify.addHook('onResponse', async (request, reply) => {
      received.push({ method: request.method, url: request.url, caller: request.internalCaller?.service ?? null, headers: { ...request.headers }, status: reply.statusCode })
    })
    options.routes(fastify)
    return fastify
  }

  return {
    url,
    received,
    refusals,
    get running() {
      return app !== undefined
    },
    async start() {
      if (app) return url
      const next = await build()
      await next.listen({ port, host: '127.0.0.1' })
      app = next
      return url
    },
    async stop() {
      const current = app
      app = undefined
      await current?.close()
    },
  }
}
