// Refusals at the edge before any proxying: internal routes do not exist from outside, path
// tricks that could reach them are refused, and declared bodies over the limit never stream in.
import fp from 'fastify-plugin'
import { sendProblem } from '@hub/service-kit'

/** Any `internal` or dot segment, raw or percent-encoded, anywhere in the path. */
const FORBIDDEN_SEGMENT = /(^|\/)(internal|\.{1,2})(\/|$)/i

/** The path decoded as far as it goes (so %252e%252e does not slip through as a literal); null when malformed. */
function decodedPath(rawPath: string): string | null {
  let decoded = rawPath
  try {
    for (let i = 0; i < 3 && /%[0-9a-f]{2}/i.test(decoded); i++) decoded = decodeURIComponent(decoded)
  } catch {
    return null
  }
  return decoded
}

export function isHiddenPath(rawPath: string): boolean {
  const decoded = decodedPath(rawPath)
  if (decoded === null) return true
  return FORBIDDEN_SEGMENT.test(decoded) || decoded.includes('\\')
}

export default fp(
  async (fastify, opts: { bodyLimit: number }) => {
    fastify.addHook('onRequest', async (request, reply) => {
      // Only origin form (`/path`): the router strips an absolute-form target's `http://host`,
      // but every check that reads the URL (the in-flight cap's `/api/`, this guard) would not.
      if (!request.url.startsWith('/')) {
        reply.header('connection', 'close')
        return sendProblem(reply, { title: 'Bad Request', status: 400, code: 'BAD_REQUEST_TARGET', detail: 'The request target must be a path (origin form).' })
      }
      const path = request.url.split('?')[0] ?? request.url
      if (isHiddenPath(path)) {
        // On the decoded path: an encoded probe (/%69nternal) is the more deliberate one.
        if (/internal/i.test(decodedPath(path) ?? path)) {
          fastify.securityEvents.report({
            type: 'SUSPICIOUS_ACCESS',
            severity: 'medium',
            source: 'api-gateway',
            code: 'INTERNAL_ROUTE_PROBE',
            tenantId: request.principal?.tenantId ?? null,
            actor: request.principal?.userId ?? null,
            ip: request.ip,
            method: request.method,
            path: path.slice(0, 2048),
            requestId: String(request.id),
          })
        }
        return sendProblem(reply, { title: 'Not Found', status: 404, code: 'ROUTE_NOT_FOUND', detail: 'No such route.' })
      }
      const length = Number(request.headers['content-length'] ?? 0)
      if (length > opts.bodyLimit) {
        // Hang up after answering instead of reading (or waiting for) the refused body.
        reply.header('connection', 'close')
        return sendProblem(reply, { title: 'Payload Too Large', status: 413, code: 'PAYLOAD_TOO_LARGE', detail: `Request bodies are limited to ${opts.bodyLimit} bytes.` })
      }
    })
  },
  { name: 'gateway-edge-guard', dependencies: ['@hub/service-kit'] },
)
