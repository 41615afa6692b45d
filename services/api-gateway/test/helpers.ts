import { after } from 'node:test'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { createFakeVenueService, deleteRedisPrefix, testRedisPrefix, testServiceEnv, listenLocal } from '@hub/service-kit/testing'
import apiGateway, { SERVICE_NAME } from '../src/app.ts'
import { edgeServerOptions, loadConfig } from '../src/config.ts'

/** A stand-in integration-service: echoes what reached it, byte for byte. */
function echoUpstream(): FastifyInstance {
  const app = Fastify()
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
  const echo = async (request: { body: unknown; headers: Record<string, unknown>; url: string; method: string }) => {
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    return { method: request.method, url: request.url, sha256: createHash('sha256').update(raw).digest('hex'), length: raw.length, headers: request.headers }
  }
  app.get('/ready', async () => ({ status: 'ready' }))
  app.get('/openapi.json', async () => ({ openapi: '3.1.0', info: { title: 'x', version: '1' }, paths: { '/api/v1/integrations/connections': { get: {} }, '/internal/sync-logs': { get: {} } } }))
  app.get('/api/v1/integrations/slow', async () => {
    await sleep(1_500)
    return { late: true }
  })
  // Answers with a cookie when asked, as the OAuth authorize route does (binding the flow to a browser).
  app.get('/api/v1/integrations/oauth/:provider/authorize', async (request, reply) => {
    reply.header('set-cookie', 'hub_oauth_0123456789abcdef=browser-value; Path=/api/v1/integrations/oauth/; Max-Age=600; HttpOnly; SameSite=Lax')
    return echo(request)
  })
  app.all('/api/v1/integrations/*', echo)
  return app
}

export async function setupGateway() {
  const prefix = testRedisPrefix()
  const common = {
    ...testServiceEnv(prefix),
  }
  // venue-service's public venue routes, faked: it keeps venues in memory, verifies the bearer token
  // as the real one does, and records what reached it (the forwarded request id and address).
  const venue = await createFakeVenueService({ redisPrefix: prefix })
  const venueUrl = await venue.start()
  const integration = echoUpstream()
  const integrationUrl = await listenLocal(integration)
  // Nothing listens here: a stopped compliance-service.
  const deadUrl = 'http://127.0.0.1:9'

  const gateways: ServiceInstance[] = []
  after(async () => {
    await Promise.all(gateways.map((g) => g.close()))
    await venue.stop()
    await integration.close()
    await deleteRedisPrefix(prefix)
  })

  return {
    common,
    venue,
    build: async (extra: Record<string, string> = {}, options: { loggerInstance?: FastifyServerOptions['loggerInstance']; consoleRoot?: string } = {}) => {
      const { consoleRoot, ...serverOptions } = options
      const config = loadConfig({ ...common, VENUE_SERVICE_URL: venueUrl, INTEGRATION_SERVICE_URL: integrationUrl, COMPLIANCE_SERVICE_URL: deadUrl, UPSTREAM_TIMEOUT_MS: '10000', ...extra })
      const app = createFastify({ service: SERVICE_NAME, logLevel: 'silent', ...serverOptions, ...edgeServerOptions(config) })
      await app.register(apiGateway, { config, ...(consoleRoot ? { consoleRoot } : {}) })
      await app.ready()
      gateways.push(app)
      return app
    },
  }
}
