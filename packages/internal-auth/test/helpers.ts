// Shared fixtures: a real Redis connection with a per-run key prefix, and a small app using the plugin.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { AppError } from '@hub/contracts'
import { internalAuth, type InternalAuthPluginOptions } from '../src/index.ts'

export const SERVICE_A = 'compliance-service'
export const SERVICE_B = 'integration-service'
export const SECRET_A1 = 'secret-a1-0123456789abcdef'
export const SECRET_A2 = 'secret-a2-0123456789abcdef'
export const SECRET_B1 = 'secret-b1-0123456789abcdef'

export const defaultKeys = {
  [SERVICE_A]: { k1: SECRET_A1, k2: SECRET_A2 },
  [SERVICE_B]: { k1: SECRET_B1 },
}

export const defaultPermissions = {
  [SERVICE_A]: ['sync-logs:read', 'audit-events:write', 'items:write', 'security-events:write'],
  [SERVICE_B]: ['audit-events:write'],
}

export function connectRedis(): Redis {
  return new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 })
}

export function uniquePrefix(): string {
  return `test:internal-auth:${randomUUID()}:`
}

export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    cursor = next
    if (found.length > 0) await redis.del(...found)
  } while (cursor !== '0')
}

export type AppOptions = Partial<InternalAuthPluginOptions> & Pick<InternalAuthPluginOptions, 'redis' | 'noncePrefix'>

/** Renders AppError as {code, status} the way a service's error handler would (minus problem+json). */
export async function buildApp(options: AppOptions, addRoutes?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  app.setErrorHandler((err, _request, reply) => {
    if (err instanceof AppError) {
      return reply.status(err.statusCode).type('application/problem+json').send({ code: err.code, status: err.statusCode, detail: err.message })
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500
    return reply.status(status).send({ code: (err as { code?: string }).code ?? 'INTERNAL', status })
  })
  await app.register(internalAuth, {
    keys: defaultKeys,
    permissions: defaultPermissions,
    ...options,
  })

  app.get<{ Params: { venueId: string } }>('/internal/sync-logs/venue/:venueId', { config: { internalAuth: { permission: 'sync-logs:read' } } }, async (request) => ({
    caller: request.internalCaller,
    venueId: request.params.venueId,
    query: request.query,
  }))
  app.post('/internal/audit-events', { config: { internalAuth: { permission: 'audit-events:write' } } }, async (request) => ({ caller: request.internalCaller, body: request.body }))
  app.post('/internal/small', { bodyLimit: 64, config: { internalAuth: { permission: 'audit-events:write' } } }, async (request) => ({ body: request.body }))
  app.route({
    method: ['GET', 'DELETE'],
    url: '/internal/items/:id',
    config: { internalAuth: { permission: 'items:write' } },
    handler: async (request) => ({ method: request.method, caller: request.internalCaller }),
  })
  app.post('/public/echo', async (request) => ({ caller: request.internalCaller, body: request.body }))
  addRoutes?.(app)
  await app.ready()
  return app
}
