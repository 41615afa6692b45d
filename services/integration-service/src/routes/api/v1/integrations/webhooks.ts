// /api/v1/integrations/webhooks/:provider/:connectionId — where providers deliver events. Public
// (providers sign instead), body kept as raw bytes for the signature. An unknown connection and a
// bad signature get the same 401 WEBHOOK_SIGNATURE_INVALID, so the route reveals no connection ids.
// QuickBooks has one app endpoint, /webhooks/quickbooks (see webhook-intake.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ProblemSchema, UuidString } from '@hub/contracts'
import { ProviderParam } from '../../../../schemas/connection.ts'

const Params = Type.Object({ provider: ProviderParam, connectionId: UuidString }, { additionalProperties: false })
const tags = ['webhooks']
const Received = Type.Object({
  received: Type.Integer(),
  duplicates: Type.Integer(),
  ignored: Type.Integer({ description: 'Authentic events acknowledged and dropped: QuickBooks realms no connection holds, or strings Postgres cannot store (NUL, unpaired surrogates)' }),
})

const webhookRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // Signatures are over the exact bytes: no parser may touch them.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body))

  // Intuit posts every realm's notifications to one URL per app (set in the developer portal).
  fastify.post(
    '/webhooks/quickbooks',
    {
      schema: { tags, security: [], summary: 'QuickBooks webhook delivery for the whole app (signed with the app verifier; routed by realmId)', response: { 200: Received, 400: ProblemSchema, 401: ProblemSchema, 413: ProblemSchema } },
      config: { auth: false },
    },
    async (request) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const result = await fastify.webhookIntake.receiveQuickBooks({ rawBody, headers: request.headers, url: request.url, ip: request.ip, requestId: String(request.id) })
      if (result.stored.length > 0) setImmediate(() => void fastify.webhookDispatch(result.stored))
      return { received: result.stored.length, duplicates: result.duplicates, ignored: result.ignored }
    },
  )

  fastify.post(
    '/webhooks/:provider/:connectionId',
    {
      schema: { tags, security: [], summary: 'Provider webhook delivery (signed by the provider)', params: Params, response: { 200: Received, 400: ProblemSchema, 401: ProblemSchema, 413: ProblemSchema } },
      config: { auth: false },
    },
    async (request) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const result = await fastify.webhookIntake.receive({
        provider: request.params.provider,
        connectionId: request.params.connectionId.toLowerCase(),
        rawBody,
        headers: request.headers,
        url: request.url,
        ip: request.ip,
        requestId: String(request.id),
      })
      // Answer first; queueing happens after and the relay covers any row that misses Redis.
      if (result.stored.length > 0) setImmediate(() => void fastify.webhookDispatch(result.stored))
      return { received: result.stored.length, duplicates: result.duplicates, ignored: result.ignored }
    },
  )

  // Mailchimp checks a webhook URL with a GET before accepting it.
  fastify.get(
    '/webhooks/:provider/:connectionId',
    { schema: { tags, security: [], summary: 'URL check some providers make before registering', params: Params, response: { 200: Type.Object({ ok: Type.Boolean() }), 400: ProblemSchema } }, config: { auth: false } },
    async () => ({ ok: true }),
  )
}

export default webhookRoutes
