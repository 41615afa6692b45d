// /api/v1/integrations/webhook-endpoints — a tenant's own receivers of hub events (Standard
// Webhooks): endpoints, secret rotation, a test ping, messages, attempts and replay. Admins only:
// an endpoint receives every venue's events unless filtered.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import {
  AttemptListQuery,
  AttemptPageSchema,
  EndpointBody,
  EndpointListQuery,
  EndpointPageSchema,
  EndpointParams,
  EndpointPatchBody,
  EndpointSchema,
  EndpointWithSecretSchema,
  MessageListQuery,
  MessagePageSchema,
  MessageParams,
  MessageSchema,
  RotateSecretBody,
} from '../../../../schemas/outbound-webhooks.ts'
import { Problems } from '../../../../schemas/sync.ts'

const security = [{ bearerAuth: [] }]
const tags = ['webhook endpoints']
const admin = { auth: { roles: ['admin' as const] } }

const webhookEndpointRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const hooks = fastify.outboundWebhooks

  fastify.get(
    '/webhook-endpoints',
    { schema: { tags, security, summary: "The tenant's webhook endpoints, newest first", querystring: EndpointListQuery, response: { 200: EndpointPageSchema, ...Problems } }, config: admin },
    async (request) => hooks.listEndpoints(request.caller, request.query),
  )

  fastify.post(
    '/webhook-endpoints',
    {
      schema: { tags, security, summary: 'Register an endpoint; the answer holds its signing secret, shown this once', body: EndpointBody, response: { 201: EndpointWithSecretSchema, ...Problems } },
      config: admin,
    },
    async (request, reply) => reply.code(201).send(await hooks.createEndpoint(request.caller, request.body)),
  )

  fastify.get('/webhook-endpoints/:id', { schema: { tags, security, summary: 'One webhook endpoint (never its secret)', params: EndpointParams, response: { 200: EndpointSchema, ...Problems } }, config: admin }, async (request) =>
    hooks.getEndpoint(request.caller, request.params.id),
  )

  fastify.patch(
    '/webhook-endpoints/:id',
    { schema: { tags, security, summary: 'Change the URL, event types, venue filter or description; enable or disable', params: EndpointParams, body: EndpointPatchBody, response: { 200: EndpointSchema, ...Problems } }, config: admin },
    async (request) => hooks.updateEndpoint(request.caller, request.params.id, request.body),
  )

  fastify.delete(
    '/webhook-endpoints/:id',
    { schema: { tags, security, summary: 'Remove an endpoint with its messages and attempts', params: EndpointParams, response: { 204: Type.Null(), ...Problems } }, config: admin },
    async (request, reply) => {
      await hooks.deleteEndpoint(request.caller, request.params.id)
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        tags,
        security,
        summary: 'A new signing secret (shown this once); the previous one keeps signing beside it for the overlap',
        params: EndpointParams,
        body: RotateSecretBody,
        response: { 200: EndpointWithSecretSchema, ...Problems },
      },
      config: admin,
    },
    async (request) => hooks.rotateSecret(request.caller, request.params.id, request.body.overlapSeconds),
  )

  fastify.post(
    '/webhook-endpoints/:id/test',
    { schema: { tags, security, summary: 'Send a webhook.ping message to the endpoint', params: EndpointParams, response: { 202: MessageSchema, ...Problems } }, config: admin },
    async (request, reply) => reply.code(202).send(await hooks.sendTest(request.caller, request.params.id)),
  )

  fastify.get(
    '/webhook-endpoints/:id/messages',
    { schema: { tags, security, summary: "The endpoint's messages, newest first", params: EndpointParams, querystring: MessageListQuery, response: { 200: MessagePageSchema, ...Problems } }, config: admin },
    async (request) => hooks.listMessages(request.caller, request.params.id, request.query),
  )

  fastify.get(
    '/webhook-endpoints/:id/messages/:messageId/attempts',
    { schema: { tags, security, summary: "A message's delivery attempts, newest first", params: MessageParams, querystring: AttemptListQuery, response: { 200: AttemptPageSchema, ...Problems } }, config: admin },
    async (request) => hooks.listAttempts(request.caller, request.params.id, request.params.messageId, request.query),
  )

  fastify.post(
    '/webhook-endpoints/:id/messages/:messageId/replay',
    { schema: { tags, security, summary: 'Send a message again, from the start of the retry schedule', params: MessageParams, response: { 202: MessageSchema, ...Problems } }, config: admin },
    async (request, reply) => reply.code(202).send(await hooks.replay(request.caller, request.params.id, request.params.messageId)),
  )
}

export default webhookEndpointRoutes
