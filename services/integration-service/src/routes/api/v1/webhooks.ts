// /api/v1/integrations/webhooks/:provider/:connectionId — where providers deliver events. Public
// (providers sign instead), body kept as raw bytes for the signature.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ProblemSchema, UuidString } from '@hub/contracts'
import { ProviderParam } from '../../../schemas/connection.ts'

const Params = Type.Object({ provider: ProviderParam, connectionId: UuidString }, { additionalProperties: false })
const tags = ['webhooks']

const webhookRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // Signatures are over the exact bytes: no parser may touch them.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body))

  fastify.post(
    '/webhooks/:provider/:connectionId',
    {
      schema: { tags, security: [], summary: 'Provider webhook delivery (signed by the provider)', params: Params, response: { 200: Type.Object({ received: Type.Integer(), duplicates: Type.Integer(), ignored: Type.Integer({ description: 'Authentic events that could not be stored (NUL or unpaired surrogates) and were dropped' }) }), 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema, 413: ProblemSchema } },
      config: { auth: false },
    },
    async (request) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const result = await fastify.webhookIntake.receive({ provider: request.params.provider, connectionId: request.params.connectionId.toLowerCase(), rawBody, headers: request.headers, url: request.url, ip: request.ip, requestId: String(request.id) })
      // Answer first; queueing happens after and the relay covers any row that misses Redis.
      if (result.stored.length > 0) setImmediate(() => void fastify.webhookDispatch(result.stored))
      return { received: result.stored.length, duplicates: result.duplicates, ignored: result.ignored }
    },
  )

  // Mailchimp checks a webhook URL with a GET before accepting it.
  fastify.get('/webhooks/:provider/:connectionId', { schema: { tags, security: [], summary: 'URL check some providers make before registering', params: Params, response: { 200: Type.Object({ ok: Type.Boolean() }), 400: ProblemSchema } }, config: { auth: false } }, async () => ({ ok: true }))
}

export default webhookRoutes
