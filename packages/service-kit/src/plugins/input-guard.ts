// One gate for client input before any route sees it:
// - JSON bodies are parsed with a bound on nesting (a body nested thousands deep would otherwise
//   overflow the stack of every recursive walker after the parser) and without prototype keys;
// - no string anywhere in body, query or path may carry a NUL byte or a lone UTF-16 surrogate
//   (Postgres refuses both in text and jsonb, so they would surface as 500s much later);
// - query and path values are converted to their declared type strictly ("16" is an integer,
//   "0x10", "1e1" and " 16" are not), and JSON bodies are never coerced (ajv runs with
//   coerceTypes off, see createFastify).
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { BadRequestError } from '@hub/contracts'

export const MAX_JSON_DEPTH = 64

export class InvalidJsonError extends BadRequestError {
  constructor(detail: string) {
    super('INVALID_JSON', detail)
  }
}

export class JsonTooDeepError extends BadRequestError {
  constructor(maxDepth: number) {
    super('JSON_TOO_DEEP', `The JSON body is nested more than ${maxDepth} levels deep.`)
  }
}

export class InvalidStringError extends BadRequestError {
  constructor(where: string) {
    super('INVALID_STRING', `${where} contains a NUL character or an unpaired UTF-16 surrogate.`, { errors: [{ path: where, message: 'must not contain NUL or unpaired surrogates' }] })
  }
}

// eslint-disable-next-line no-control-regex
const BAD_STRING = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
export const isCleanString = (value: string): boolean => !BAD_STRING.test(value)

/** Refuses nesting deeper than maxDepth before JSON.parse builds anything (one linear scan). */
export function parseJsonBounded(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92)
        i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth) throw new JsonTooDeepError(maxDepth)
    } else if (c === 125 || c === 93) depth--
  }
  if (text.trim() === '') throw new InvalidJsonError('The JSON body is empty.')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new InvalidJsonError(`The body is not valid JSON: ${(error as Error).message}`)
  }
  return value
}

// Only what a parser built is walked: buffers and streams (raw webhook bodies, proxied bodies) are not.
function isPlainData(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false
  const proto: unknown = Object.getPrototypeOf(value)
  return Array.isArray(value) || proto === Object.prototype || proto === null
}

/** The JSON-pointer-ish path of the first bad string or key, or null when everything is clean. */
export function findBadString(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return isCleanString(value) ? null : path
  if (depth > MAX_JSON_DEPTH * 2 || !isPlainData(value)) return null
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findBadString(value[i], `${path}/${i}`, depth + 1)
      if (found) return found
    }
    return null
  }
  for (const [key, member] of Object.entries(value)) {
    if (!isCleanString(key)) return `${path}/${key.replace(BAD_STRING, '?')}`
    const found = findBadString(member, `${path}/${key}`, depth + 1)
    if (found) return found
  }
  return null
}

/** Prototype-poisoning keys are refused outright, as Fastify's own parser does. */
function hasPoisonKey(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > MAX_JSON_DEPTH * 2) return false
  if (Array.isArray(value)) return value.some((item) => hasPoisonKey(item, depth + 1))
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true
  const constructor = (value as Record<string, unknown>).constructor
  if (Object.prototype.hasOwnProperty.call(value, 'constructor') && constructor !== null && typeof constructor === 'object' && Object.prototype.hasOwnProperty.call(constructor, 'prototype')) return true
  return Object.values(value).some((item) => hasPoisonKey(item, depth + 1))
}

type JsonSchemaLike = { type?: unknown; anyOf?: JsonSchemaLike[]; oneOf?: JsonSchemaLike[]; items?: JsonSchemaLike; properties?: Record<string, JsonSchemaLike>; const?: unknown; enum?: unknown[] }

const INTEGER = /^-?(0|[1-9][0-9]*)$/
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/

function typesOf(schema: JsonSchemaLike): Set<string> {
  const types = new Set<string>()
  const add = (s: JsonSchemaLike) => {
    if (typeof s.type === 'string') types.add(s.type)
    else if (Array.isArray(s.type)) for (const t of s.type) types.add(String(t))
    if (s.const !== undefined) types.add(typeof s.const)
    for (const member of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) add(member)
  }
  add(schema)
  return types
}

/** A query or path value converted to the declared scalar type when it is exactly one. */
function strictCoerce(value: unknown, schema: JsonSchemaLike | undefined): unknown {
  if (!schema) return value
  const types = typesOf(schema)
  if (types.has('array') && !Array.isArray(value)) value = [value]
  if (Array.isArray(value)) {
    const items = schema.items ?? [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].find((s) => s.items)?.items
    return items ? value.map((item) => strictCoerce(item, items)) : value
  }
  if (typeof value !== 'string' || types.has('string')) return value
  if (types.has('integer') && INTEGER.test(value) && Number.isSafeInteger(Number(value))) return Number(value)
  if (types.has('number') && NUMBER.test(value) && Number.isFinite(Number(value))) return Number(value)
  if (types.has('boolean') && (value === 'true' || value === 'false')) return value === 'true'
  return value
}

function coerceObject(target: unknown, schema: unknown): void {
  const properties = (schema as JsonSchemaLike | undefined)?.properties
  if (!properties || target === null || typeof target !== 'object') return
  const record = target as Record<string, unknown>
  for (const [key, value] of Object.entries(record)) {
    if (Object.prototype.hasOwnProperty.call(properties, key)) record[key] = strictCoerce(value, properties[key])
  }
}

function checkStrings(request: FastifyRequest): void {
  // Query and params objects come from Fastify's own parsers (not plain prototypes): walk their entries.
  for (const [part, value] of [
    ['query', request.query],
    ['params', request.params],
  ] as const) {
    if (value === null || typeof value !== 'object') continue
    const bad = findBadString(Object.fromEntries(Object.entries(value)), `/${part}`)
    if (bad) throw new InvalidStringError(bad)
  }
  const bad = findBadString(request.body, '/body')
  if (bad) throw new InvalidStringError(bad)
}

export default fp(
  async (fastify, opts: { parseJson?: boolean }) => {
    // The gateway passes bodies through untouched (its proxy brings its own parser).
    if (opts.parseJson !== false) fastify.removeContentTypeParser('application/json')
    if (opts.parseJson !== false)
      fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
        try {
          const value = parseJsonBounded(String(body))
          if (hasPoisonKey(value)) {
            done(new InvalidJsonError('The body carries a __proto__ or constructor.prototype key.'), undefined)
            return
          }
          done(null, value)
        } catch (error) {
          done(error as Error, undefined)
        }
      })
    fastify.addHook('preValidation', async (request) => {
      checkStrings(request)
      const schema = request.routeOptions.schema as { querystring?: unknown; params?: unknown } | undefined
      if (schema?.querystring) coerceObject(request.query, schema.querystring)
      if (schema?.params) coerceObject(request.params, schema.params)
    })
  },
  { name: '@hub/input-guard', fastify: '5.x' },
)
