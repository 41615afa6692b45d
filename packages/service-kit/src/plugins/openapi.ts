// OpenAPI 3.1 generated from the route schemas, served at /openapi.json (the gateway merges them).
// The generated document is finished in one place so it says what the API does: errors are
// problem documents, every operation has an operationId and a summary, and a parameter with a
// default is optional.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import { PROBLEM_CONTENT_TYPE } from '@hub/contracts'

type Operation = {
  operationId?: string
  summary?: string
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: { default?: unknown } }>
  responses?: Record<string, { description?: string; content?: Record<string, unknown> }>
}
type Document = { paths?: Record<string, Record<string, Operation>> }

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])

/** `get /api/v1/venues/{id}/members` → `getVenuesIdMembers`: stable, unique per method and path. */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v\d+\//, '/')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')
}

export function finishDocument<T extends Document>(document: T): T {
  // A plugin's root route ('/' under a prefix) answers without the slash too: publish that form.
  for (const path of Object.keys(document.paths ?? {})) {
    const bare = path.replace(/\/+$/, '')
    if (document.paths && bare !== path && bare !== '' && !document.paths[bare]) {
      document.paths[bare] = document.paths[path]!
      delete document.paths[path]
    }
  }
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      if (!METHODS.has(method) || typeof operation !== 'object' || operation === null) continue
      operation.operationId ??= operationIdOf(method, path)
      operation.summary ??= `${method.toUpperCase()} ${path}`
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in !== 'path' && parameter.schema?.default !== undefined) parameter.required = false
      }
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const content = response.content
        if (!content || !(status.startsWith('4') || status.startsWith('5') || status === 'default')) continue
        if (content['application/json'] && !content[PROBLEM_CONTENT_TYPE]) {
          content[PROBLEM_CONTENT_TYPE] = content['application/json']
          delete content['application/json']
        }
      }
    }
  }
  return document
}

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
      transformObject: (documentObject) => finishDocument(('openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject) as Document),
    })
    if (opts.route !== false) fastify.get('/openapi.json', { schema: { hide: true }, config: { auth: false, rateLimit: false } }, async () => fastify.swagger())
  },
  { name: '@hub/openapi', fastify: '5.x' },
)
