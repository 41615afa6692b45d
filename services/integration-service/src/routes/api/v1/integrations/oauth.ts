// /api/v1/integrations/oauth/:provider/{authorize,callback} — connecting an account through OAuth 2.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { AuthorizeQuery, AuthorizeResponse, CallbackQuery, Problems, ProviderParams } from '../../../../schemas/connection.ts'

const tags = ['oauth']

const oauthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/oauth/:provider/authorize',
    {
      schema: { tags, security: [{ bearerAuth: [] }], summary: "Start connecting a venue: returns the provider's consent URL", params: ProviderParams, querystring: AuthorizeQuery, response: { 200: AuthorizeResponse, ...Problems } },
      config: { auth: { roles: ['admin', 'manager'] } },
    },
    async (request, reply) => {
      const { setCookie, ...started } = await fastify.oauthService.authorize(request.caller, request.params.provider, request.query.venueId.toLowerCase())
      // The browser that asked keeps this cookie; only it can finish the flow at the callback.
      reply.header('set-cookie', setCookie)
      return started
    },
  )

  fastify.get(
    '/oauth/:provider/callback',
    {
      schema: {
        tags,
        security: [],
        summary: 'Where the provider sends the browser back; redirects to the configured return URL with the outcome',
        params: ProviderParams,
        querystring: CallbackQuery,
        response: { 302: Type.Null({ description: 'Redirect to the return URL, with the outcome in its query' }), ...Problems },
      },
      // Reached by the user's browser coming back from the provider, without our token.
      config: { auth: false },
    },
    async (request, reply) => {
      const { location, clearCookie } = await fastify.oauthService.callback(request.params.provider, request.query, { requestId: String(request.id), ip: request.ip, cookieHeader: request.headers.cookie })
      if (clearCookie) reply.header('set-cookie', clearCookie)
      return reply.redirect(location, 302)
    },
  )
}

export default oauthRoutes
