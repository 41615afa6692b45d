// Checks every response a client receives against the OpenAPI document it was generated from: the
// operation exists, the status is one it declares, the media type is one declared for that status,
// and a JSON body validates against the declared schema (ajv, formats included). A mismatch
// rejects the call with a ContractViolation, so a system test fails where the API and its document
// disagree instead of passing on a shape the types only assumed.
// Node and tests only (ajv is not for the console's bundle).
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { Middleware } from 'openapi-fetch'

export interface OpenApiDocument {
  paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>
  components?: { schemas?: Record<string, unknown> }
}

export class ContractViolation extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ContractViolation'
  }
}

/**
 * Statuses the gateway answers for any operation when an upstream is down or slow, which the
 * per-operation document does not repeat. They must still be problem documents with a code.
 */
const AVAILABILITY_STATUSES = new Set([502, 503, 504])

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const DOCUMENT_ID = 'openapi'
/** A JSON pointer segment (RFC 6901). */
const pointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1')
const mediaType = (header: string | null) => (header ?? '').split(';')[0]!.trim().toLowerCase()
const isJson = (media: string) => media === 'application/json' || media.endsWith('+json')

interface Template {
  path: string
  regex: RegExp
  params: number
}

export interface Conformance {
  /** Throws a ContractViolation when `response` (to `method` `url`) is not what the document declares. */
  check(method: string, url: string, response: Response): Promise<void>
  /** The same check as openapi-fetch middleware. */
  middleware: Middleware
}

/** A checker over `document`, or over the document a loader fetches once on first use (e.g. the gateway's /openapi.json). */
export function conformance(source: OpenApiDocument | (() => Promise<OpenApiDocument>)): Conformance {
  let loaded: Promise<{ document: OpenApiDocument; ajv: Ajv; templates: Template[] }> | undefined
  const validators = new Map<string, ValidateFunction>()

  function load() {
    loaded ??= (async () => {
      const document = typeof source === 'function' ? await source() : source
      const ajv = addFormats(new Ajv({ strict: false, allErrors: true, validateFormats: true }))
      ajv.addSchema(document as object, DOCUMENT_ID)
      // Literal segments win over parameters: /sync/jobs/{id} must not take /sync/jobs/counts.
      const templates = Object.keys(document.paths)
        .map((path) => ({ path, params: (path.match(/\{[^}]+\}/g) ?? []).length, regex: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`) }))
        .sort((a, b) => a.params - b.params)
      return { document, ajv, templates }
    })()
    return loaded
  }

  async function check(method: string, url: string, response: Response): Promise<void> {
    const { document, ajv, templates } = await load()
    const { pathname } = new URL(url)
    const verb = method.toLowerCase()
    const label = `${method.toUpperCase()} ${pathname} → ${response.status}`
    const template = templates.find((candidate) => candidate.regex.test(pathname) && document.paths[candidate.path]?.[verb])
    if (!template) throw new ContractViolation(`${label}: no such operation in the document`)
    const responses = document.paths[template.path]![verb]!.responses ?? {}
    const status = String(response.status)
    const declaredStatus = [status, `${status[0]}XX`, 'default'].find((key) => responses[key] !== undefined)
    const media = mediaType(response.headers.get('content-type'))
    const text = await response.clone().text()
    if (declaredStatus === undefined) {
      if (!AVAILABILITY_STATUSES.has(response.status)) throw new ContractViolation(`${label}: status not declared (declared: ${Object.keys(responses).join(', ')})`)
      let code: unknown
      try {
        code = (JSON.parse(text) as { code?: unknown }).code
      } catch {
        code = undefined
      }
      if (media !== 'application/problem+json' || typeof code !== 'string') throw new ContractViolation(`${label}: not a problem document with a code (${media}): ${text.slice(0, 300)}`)
      return
    }
    const content = responses[declaredStatus]!.content
    if (!content || Object.keys(content).length === 0) {
      if (text.length > 0) throw new ContractViolation(`${label}: a body (${media}) where the document declares none: ${text.slice(0, 300)}`)
      return
    }
    if (!(media in content)) throw new ContractViolation(`${label}: ${media || 'no content type'}, but the document declares ${Object.keys(content).join(', ')}`)
    if (!isJson(media) || content[media]!.schema === undefined) return
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new ContractViolation(`${label}: ${media} that does not parse: ${text.slice(0, 300)}`)
    }
    const ref = `${DOCUMENT_ID}#/paths/${pointer(template.path)}/${verb}/responses/${declaredStatus}/content/${pointer(media)}/schema`
    let validate = validators.get(ref)
    if (!validate) {
      validate = ajv.compile({ $ref: ref })
      validators.set(ref, validate)
    }
    if (!validate(body)) throw new ContractViolation(`${label}: the body does not match the document's schema: ${ajv.errorsText(validate.errors, { separator: '; ' })}; body ${text.slice(0, 300)}`)
  }

  return {
    check,
    middleware: {
      // The document is loaded before the first request goes out, so waiting for it never eats
      // into a call's own deadline (a timeout signal also covers reading the body).
      async onRequest() {
        await load()
        return undefined
      },
      async onResponse({ request, response }) {
        await check(request.method, request.url, response)
        return response
      },
    },
  }
}
