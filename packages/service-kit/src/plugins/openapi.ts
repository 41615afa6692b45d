// OpenAPI 3.1 generated from the route schemas, served at /openapi.json (the gateway merges them).
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'

export default fp(
  async (fastify, opts: { service: string; version?: string; description?: string; route?: boolean }) => {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: opts.service, version: opts.version ?? '0.1.0', description: opts.description ?? '' },
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            internalHmac: { type: 'apiKey', in: 'header', name: 'x-internal-signature', description: 'HMAC v1, see packages/internal-auth' },
          },
        },
      },
    })
    if (opts.route !== false) fastify.get('/openapi.json', { schema: { hide: true }, config: { auth: false, rateLimit: false } }, async () => fastify.swagger())
  },
  { name: '@hub/openapi', fastify: '5.x' },
)
