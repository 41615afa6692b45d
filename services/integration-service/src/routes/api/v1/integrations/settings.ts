// /api/v1/integrations/settings — typed, versioned configuration per integration type, tenant-wide
// or per venue (`?venueId=`). Writes and secret reads share a per-user budget of 10 a minute each.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  SettingsDocumentSchema,
  SettingsEffectiveSchema,
  SettingsExportSchema,
  SettingsImportBody,
  SettingsProblems,
  SettingsRollbackBody,
  SettingsScopeQuery,
  SettingsSecretParams,
  SettingsSecretSchema,
  SettingsTypeParams,
  SettingsTypesSchema,
  SettingsVersionPageSchema,
  SettingsVersionParams,
  SettingsVersionSchema,
  SettingsVersionsQuery,
  SettingsWriteBody,
  SettingsWriteResultSchema,
} from '../../../../schemas/settings.ts'
import { InvalidPreconditionError, SettingsRateLimitedError } from '../../../../plugins/app/settings/settings-errors.ts'

/** Per user and bucket: writes of any kind share one budget, decrypted secret reads another. */
export const SETTINGS_RATE_LIMIT = { max: 10, timeWindowMs: 60_000 } as const

const tags = ['settings']
const security = [{ bearerAuth: [] }]
const writers = { auth: { roles: ['admin' as const, 'manager' as const] } }
const unlimited = { rateLimit: false as const }

/** `If-Match: "3"` (or W/"3", or 3) and `expectedVersion` say the same thing; both may be sent if they agree. */
function expectedVersionOf(request: FastifyRequest, fromBody: number | undefined): number | undefined {
  const header = request.headers['if-match']
  if (header === undefined) return fromBody
  const match = /^\s*(?:W\/)?"?(\d{1,10})"?\s*$/.exec(header)
  if (!match) throw new InvalidPreconditionError('If-Match must name a settings version, e.g. "3".')
  const version = Number(match[1])
  if (fromBody !== undefined && fromBody !== version) throw new InvalidPreconditionError('If-Match and expectedVersion name different versions.')
  return version
}

const withEtag = <T extends { version: number }>(reply: FastifyReply, view: T): T => {
  reply.header('etag', `"${view.version}"`)
  return view
}

const settingsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const service = fastify.settingsService

  // Encapsulated in this plugin: only the routes below are limited, and only those not opting out.
  await fastify.register(rateLimit, {
    global: true,
    max: SETTINGS_RATE_LIMIT.max,
    timeWindow: SETTINGS_RATE_LIMIT.timeWindowMs,
    redis: fastify.redis,
    nameSpace: `${fastify.redisPrefix}rl:settings:`,
    // The only limited GET is the decrypted secret read.
    keyGenerator: (request) => `${request.method === 'GET' ? 'secret-read' : 'write'}:${request.principal.tenantId}:${request.principal.userId}`,
    onExceeded: (request) => {
      fastify.securityEvents.report({
        type: 'RATE_LIMIT',
        severity: 'low',
        source: 'integration-service',
        code: 'RATE_LIMITED',
        tenantId: request.principal.tenantId,
        actor: request.principal.userId,
        ip: request.ip,
        method: request.method,
        path: request.url.split('?')[0] ?? request.url,
        requestId: String(request.id),
        details: { limiter: 'settings' },
      })
    },
    errorResponseBuilder: (_request, context) => new SettingsRateLimitedError(`At most ${context.max} settings changes or secret reads a minute per user; retry in ${Math.max(1, Math.ceil(context.ttl / 1000))} s.`),
  })

  fastify.get('/settings', { schema: { tags, security, summary: 'The integration types and the keys each accepts', response: { 200: SettingsTypesSchema, ...SettingsProblems } }, config: unlimited }, async () => ({ types: service.types() }))

  fastify.get(
    '/settings/:type',
    {
      schema: { tags, security, summary: "A scope's own settings (secrets masked)", params: SettingsTypeParams, querystring: SettingsScopeQuery, response: { 200: SettingsDocumentSchema, ...SettingsProblems } },
      config: unlimited,
    },
    async (request, reply) => withEtag(reply, await service.get(request.caller, request.params.type, request.query.venueId)),
  )

  fastify.put(
    '/settings/:type',
    {
      schema: {
        tags,
        security,
        summary: "Replace a scope's settings",
        description: 'Non-secret keys become exactly those sent. Secret keys are write-only: one not mentioned keeps its value, `null` removes it. Send `If-Match` or `expectedVersion` to refuse a stale write (409).',
        params: SettingsTypeParams,
        querystring: SettingsScopeQuery,
        body: SettingsWriteBody,
        response: { 200: SettingsWriteResultSchema, ...SettingsProblems },
      },
      config: writers,
    },
    async (request, reply) => {
      const expectedVersion = expectedVersionOf(request, request.body.expectedVersion)
      return withEtag(reply, await service.replace(request.caller, request.params.type, request.query.venueId, { settings: request.body.settings, expectedVersion }))
    },
  )

  fastify.patch(
    '/settings/:type',
    {
      schema: {
        tags,
        security,
        summary: 'Change some settings',
        description: 'Keys sent are set, `null` removes a key, everything else is kept.',
        params: SettingsTypeParams,
        querystring: SettingsScopeQuery,
        body: SettingsWriteBody,
        response: { 200: SettingsWriteResultSchema, ...SettingsProblems },
      },
      config: writers,
    },
    async (request, reply) => {
      const expectedVersion = expectedVersionOf(request, request.body.expectedVersion)
      return withEtag(reply, await service.patch(request.caller, request.params.type, request.query.venueId, { settings: request.body.settings, expectedVersion }))
    },
  )

  fastify.get(
    '/settings/:type/effective',
    {
      schema: {
        tags,
        security,
        summary: "The settings in force: the tenant's, overridden key by key by the venue's",
        params: SettingsTypeParams,
        querystring: SettingsScopeQuery,
        response: { 200: SettingsEffectiveSchema, ...SettingsProblems },
      },
      config: unlimited,
    },
    async (request) => service.effectiveView(request.caller, request.params.type, request.query.venueId),
  )

  fastify.get(
    '/settings/:type/versions',
    {
      schema: { tags, security, summary: 'Version history, newest first: who, when, what changed', params: SettingsTypeParams, querystring: SettingsVersionsQuery, response: { 200: SettingsVersionPageSchema, ...SettingsProblems } },
      config: unlimited,
    },
    async (request) => service.listVersions(request.caller, request.params.type, request.query.venueId, { limit: request.query.limit, cursor: request.query.cursor }),
  )

  fastify.get(
    '/settings/:type/versions/:version',
    {
      schema: { tags, security, summary: 'One version (secrets masked)', params: SettingsVersionParams, querystring: SettingsScopeQuery, response: { 200: SettingsVersionSchema, ...SettingsProblems } },
      config: unlimited,
    },
    async (request) => service.getVersion(request.caller, request.params.type, request.query.venueId, request.params.version),
  )

  fastify.post(
    '/settings/:type/versions/:version/rollback',
    {
      schema: {
        tags,
        security,
        summary: 'Roll back: a new version equal to this one, secrets included',
        params: SettingsVersionParams,
        querystring: SettingsScopeQuery,
        body: SettingsRollbackBody,
        response: { 200: SettingsWriteResultSchema, ...SettingsProblems },
      },
      config: writers,
      // The body is optional here: a bare POST (with If-Match or without) rolls back too.
      preValidation: async (request) => {
        request.body ??= {}
      },
    },
    async (request, reply) => {
      const expectedVersion = expectedVersionOf(request, request.body.expectedVersion)
      return withEtag(reply, await service.rollback(request.caller, request.params.type, request.query.venueId, request.params.version, expectedVersion))
    },
  )

  fastify.get(
    '/settings/:type/export',
    {
      schema: { tags, security, summary: 'Export as JSON; secret keys are left out and listed in omittedSecrets', params: SettingsTypeParams, querystring: SettingsScopeQuery, response: { 200: SettingsExportSchema, ...SettingsProblems } },
      config: unlimited,
    },
    async (request, reply) => {
      const file = await service.exportDocument(request.caller, request.params.type, request.query.venueId)
      const name = `${file.type}-settings-${file.venueId ?? 'tenant'}-v${file.version}.json`
      return reply.header('content-disposition', `attachment; filename="${name}"`).send(file)
    },
  )

  fastify.post(
    '/settings/:type/import',
    {
      schema: {
        tags,
        security,
        summary: 'Import a JSON export as a new version',
        description: 'Validated like a replace. The target is the URL (type and venueId), not the file. Secrets in the file are encrypted; secret keys it leaves out keep their current values.',
        params: SettingsTypeParams,
        querystring: SettingsScopeQuery,
        body: SettingsImportBody,
        response: { 200: SettingsWriteResultSchema, ...SettingsProblems },
      },
      config: writers,
    },
    async (request, reply) => {
      const expectedVersion = expectedVersionOf(request, request.body.expectedVersion)
      return withEtag(reply, await service.importDocument(request.caller, request.params.type, request.query.venueId, { type: request.body.type, settings: request.body.settings }, expectedVersion))
    },
  )

  fastify.get(
    '/settings/:type/secrets/:key',
    {
      schema: { tags, security, summary: 'Decrypt one secret setting (admins; audited)', params: SettingsSecretParams, querystring: SettingsScopeQuery, response: { 200: SettingsSecretSchema, ...SettingsProblems } },
      config: { auth: { roles: ['admin'] } },
      // A HEAD would decrypt and audit without showing anything.
      exposeHeadRoute: false,
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      return service.readSecret(request.caller, request.params.type, request.query.venueId, request.params.key)
    },
  )
}

export default settingsRoutes
