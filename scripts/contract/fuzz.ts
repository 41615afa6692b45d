// Schema-driven, property-based fuzzing of the public API from the merged OpenAPI document, on the
// real processes: the stack is started by the launcher the e2e suite uses (every service, the
// worker and the gateway as separate processes), the document is the one the gateway serves at
// /openapi.json, and every request goes through the gateway over HTTP. fast-check generates
// requests per operation: valid ones, each required field missing, wrong types, boundary values,
// NUL bytes and lone surrogates, huge and deeply nested values, malformed JSON, wrong content
// types, bad path and query values, tampered cursors. Every answer must come (no hang) and be
// below 500; every 4xx a problem document with a `code`; every 2xx must match its declared
// schema; and afterwards every process must still be running and ready.
// Budget: FUZZ_BUDGET=ci (npm test: 600 requests or 60 s, after the stack's start) or full
// (npm run fuzz); FUZZ_RUNS and FUZZ_SECONDS override it; FUZZ_SEED replays a run.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { getGlobalDispatcher } from 'undici'
import type { OpenApiDocument } from '@hub/api-client/conformance'
import { encodeCursor } from '@hub/service-kit'
import { hub, servedDocument } from '../../e2e/support/hub.ts'
import { startStack } from '../../e2e/support/stack.ts'

type Schema = Record<string, unknown> & {
  type?: string | string[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  anyOf?: Schema[]
  oneOf?: Schema[]
  allOf?: Schema[]
  enum?: unknown[]
  const?: unknown
  $ref?: string
  format?: string
  pattern?: string
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  default?: unknown
}
type Parameter = { name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: Schema }
type Operation = {
  operationId: string
  parameters?: Parameter[]
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> }
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>
}
interface Op {
  method: string
  path: string
  operation: Operation
}
interface FuzzRequest {
  op: Op
  kind: string
  url: string
  headers: Record<string, string>
  payload?: string
}

const BUDGETS = { ci: { runs: 600, ms: 60_000 }, full: { runs: 20_000, ms: 900_000 } } as const
/** An answer slower than this is a hang, and a failure. */
const ANSWER_TIMEOUT_MS = 60_000
const preset = BUDGETS[(process.env.FUZZ_BUDGET as keyof typeof BUDGETS) ?? 'ci'] ?? BUDGETS.ci
// FUZZ_RUNS and FUZZ_SECONDS override the preset (e.g. a longer soak).
const budget = { runs: Number(process.env.FUZZ_RUNS ?? preset.runs), ms: Number(process.env.FUZZ_SECONDS ?? preset.ms / 1000) * 1000 }
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

function operations(document: OpenApiDocument): Op[] {
  const out: Op[] = []
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, Operation>)) out.push({ method: method.toUpperCase(), path, operation })
  }
  return out
}

// ---- values from schemas -------------------------------------------------------------------

const NASTY_STRINGS = ['a\u0000b', '\ud800', 'x\udc00y', '\u0000', '', ' ', '𝕏'.repeat(3), '%00', '../../etc/passwd', '<script>', "' or 1=1 --", '\u202e', 'null', '0x10', '-1', '1e309']

function valid(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const union = schema.anyOf ?? schema.oneOf
  if (union) return fc.oneof(...union.map((s) => valid(s, depth + 1)))
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'string':
      return validString(schema)
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000, max: schema.maximum ?? 1_000_000 })
    case 'number':
      return fc.double({ min: schema.minimum ?? -1_000, max: schema.maximum ?? 1_000_000, noNaN: true, noDefaultInfinity: true })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array':
      return depth > 4 ? fc.constant([]) : fc.array(valid(schema.items ?? {}, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, 3) })
    case 'object': {
      if (depth > 4 || !schema.properties) return fc.constant({})
      const required = new Set(schema.required ?? [])
      const keys = Object.keys(schema.properties)
      return fc.record(Object.fromEntries(keys.map((key) => [key, valid(schema.properties![key]!, depth + 1)])), { requiredKeys: keys.filter((k) => required.has(k)) })
    }
    default:
      return fc.oneof(fc.string(), fc.integer(), fc.boolean())
  }
}

function validString(schema: Schema): fc.Arbitrary<string> {
  switch (schema.format) {
    case 'uuid':
      return fc.uuid({ version: 4 })
    case 'date-time':
      return fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString())
    case 'email':
      return fc.emailAddress()
    case 'uri':
      return fc.webUrl()
  }
  const min = schema.minLength ?? 0
  const max = Math.min(schema.maxLength ?? 40, Math.max(min, 40))
  if (schema.pattern) {
    const regex = new RegExp(schema.pattern)
    // fast-check cannot generate from lookaheads: generate without them, keep what the real pattern takes.
    const generable = schema.pattern.replace(/\(\?[!=](?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)/g, '')
    return fc.stringMatching(new RegExp(generable)).filter((s) => regex.test(s) && s.length >= min && s.length <= (schema.maxLength ?? Infinity))
  }
  return fc.string({ minLength: min, maxLength: max, unit: 'grapheme' })
}

/** A value of the wrong type for this schema. */
function wrongType(schema: Schema): fc.Arbitrary<unknown> {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  const all: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.string(),
    integer: fc.integer(),
    number: fc.constant(1.5),
    boolean: fc.boolean(),
    array: fc.constant(['x']),
    object: fc.constant({ a: 1 }),
    null: fc.constant(null),
  }
  const others = Object.entries(all).filter(([name]) => name !== type && !(type === 'number' && name === 'integer'))
  return fc.oneof(...others.map(([, arb]) => arb))
}

/** Values at and beyond the edges of this schema. */
function boundary(schema: Schema): fc.Arbitrary<unknown> {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  const values: unknown[] = []
  if (type === 'integer' || type === 'number') {
    for (const edge of [schema.minimum, schema.maximum]) if (edge !== undefined) values.push(edge, edge - 1, edge + 1)
    values.push(0, -1, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308)
  } else if (type === 'string') {
    values.push('', 'x'.repeat((schema.maxLength ?? 255) + 1), 'x'.repeat(100_000), '0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '00000000-0000-0000-0000-000000000000')
  } else if (type === 'array') {
    values.push(
      [],
      Array.from({ length: (schema.maxItems ?? 1000) + 1 }, () => 'x'),
    )
  } else values.push(null, {}, [])
  return fc.constantFrom(...values)
}

const nasty = fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ unit: 'binary', maxLength: 30 }))

// ---- requests --------------------------------------------------------------------------------

function resolveRefs(schema: Schema, components: Record<string, unknown>, depth = 0): Schema {
  if (depth > 30 || schema === null || typeof schema !== 'object') return schema
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '')
    return resolveRefs(components[name] as Schema, components, depth + 1)
  }
  const out: Schema = Array.isArray(schema) ? ([...schema] as unknown as Schema) : { ...schema }
  for (const [key, value] of Object.entries(out)) if (value && typeof value === 'object') (out as Record<string, unknown>)[key] = resolveRefs(value as Schema, components, depth + 1)
  return out
}

interface Fixtures {
  venueId: string
  tokens: Record<'admin' | 'viewer' | 'none', Record<string, string>>
}

function pathValue(param: Parameter, fixtures: Fixtures): fc.Arbitrary<string> {
  if (/venue/i.test(param.name) || (param.name === 'id' && param.schema.format === 'uuid')) return fc.oneof(fc.constant(fixtures.venueId), valid(param.schema).map(String))
  return valid(param.schema).map(String)
}

const BAD_PATH_VALUES = ['not-a-uuid', '%00', '%ZZ', '..%2F..', 'x'.repeat(2_000), '%ED%A0%80', '00000000-0000-0000-0000-000000000000', '-1', '0x10', '99999999999999999999']
const BAD_QUERY_VALUES = ['0x10', '1e1', '-1', '', '%00', '%ED%A0%80', '9'.repeat(30), 'true', '[]', '0000-01-01T00:00:00Z', '99999-01-01T00:00:00Z', 'x'.repeat(5_000)]
const TAMPERED_CURSORS = [
  'bogus',
  '',
  '!!!',
  encodeCursor({}),
  encodeCursor({ c: '0000-01-01T00:00:00Z', i: '00000000-0000-0000-0000-000000000000' }),
  encodeCursor({ at: 'yesterday', id: 'x'.repeat(36) }),
  encodeCursor({ seq: '99999999999999999999999' }),
  encodeCursor({ s: '-1' }),
  encodeCursor({ v: 1e308 }),
  encodeCursor({ failedAt: '2026-13-45T99:99:99Z', id: 'not-a-uuid-not-a-uuid-not-a-uuid-xxx' }),
  encodeCursor({ x: '18446744073709551616', i: '00000000-0000-0000-0000-000000000000' }),
  encodeCursor({ s: 'name', k: 'a\u0000b', id: '00000000-0000-0000-0000-000000000000' }),
  encodeCursor({ s: 'created_at', k: '0000-01-01', id: '00000000-0000-0000-0000-000000000000' }),
  encodeCursor({ s: '-created_at', k: 'not a date', id: '00000000-0000-0000-0000-000000000000' }),
  Buffer.from('{"a":' + '['.repeat(3000)).toString('base64url'),
]

const KINDS = ['valid', 'valid', 'valid', 'missing-required', 'wrong-type', 'boundary', 'nasty-string', 'huge', 'deep', 'malformed-json', 'wrong-content-type', 'bad-path', 'bad-query', 'tampered-cursor', 'no-auth'] as const

function requestFor(op: Op, components: Record<string, unknown>, fixtures: Fixtures): fc.Arbitrary<FuzzRequest> {
  const params = (op.operation.parameters ?? []).map((p) => ({ ...p, schema: resolveRefs(p.schema ?? {}, components) }))
  const pathParams = params.filter((p) => p.in === 'path')
  const queryParams = params.filter((p) => p.in === 'query')
  const bodySchema = op.operation.requestBody?.content['application/json']?.schema
  const body = bodySchema ? resolveRefs(bodySchema, components) : undefined
  const bodyProps = Object.entries(body?.properties ?? {})

  return fc.constantFrom(...KINDS).chain((kind) => {
    const pathArb = fc.tuple(...pathParams.map((p) => (kind === 'bad-path' ? fc.oneof(pathValue(p, fixtures), fc.constantFrom(...BAD_PATH_VALUES)) : pathValue(p, fixtures))))
    const queryArb = fc.tuple(
      ...queryParams.map((p) => {
        if (p.name === 'cursor' && kind === 'tampered-cursor') return fc.constantFrom(...TAMPERED_CURSORS).map((v) => [p.name, v] as const)
        if (kind === 'bad-query') return fc.oneof(valid(p.schema).map(String), fc.constantFrom(...BAD_QUERY_VALUES)).map((v) => [p.name, v] as const)
        if (kind === 'boundary') return fc.oneof(valid(p.schema), boundary(p.schema)).map((v) => [p.name, String(v)] as const)
        const value = valid(p.schema).map((v) => [p.name, String(v)] as const)
        return p.required ? value : fc.option(value, { nil: undefined, freq: 3 })
      }),
    )
    const bodyArb: fc.Arbitrary<string | undefined> = !body
      ? kind === 'malformed-json'
        ? fc.constant('{"x":')
        : fc.constant(undefined)
      : valid(body).chain((base) => {
          const object = (base && typeof base === 'object' && !Array.isArray(base) ? base : {}) as Record<string, unknown>
          const pick = bodyProps.length > 0 ? fc.constantFrom(...bodyProps) : fc.constant(undefined)
          switch (kind) {
            case 'missing-required': {
              const required = body.required ?? []
              return required.length === 0 ? fc.constant(JSON.stringify(object)) : fc.constantFrom(...required).map((key) => JSON.stringify({ ...object, [key]: undefined }))
            }
            case 'wrong-type':
              return pick.chain((entry) => (entry ? wrongType(entry[1]).map((v) => JSON.stringify({ ...object, [entry[0]]: v })) : fc.constant(JSON.stringify(42))))
            case 'boundary':
              return pick.chain((entry) => (entry ? boundary(entry[1]).map((v) => JSON.stringify({ ...object, [entry[0]]: v })) : fc.constant('{}')))
            case 'nasty-string':
              return fc.tuple(pick, nasty).map(([entry, v]) => JSON.stringify(entry ? { ...object, [entry[0]]: v, [v]: 1 } : { [v]: v }))
            case 'huge':
              return pick.map((entry) => JSON.stringify({ ...object, [entry?.[0] ?? 'x']: 'x'.repeat(300_000) }))
            case 'deep':
              return fc.integer({ min: 50, max: 5_000 }).map((n) => `{"${bodyProps[0]?.[0] ?? 'x'}":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`)
            case 'malformed-json':
              return fc.constantFrom('{"x":', '{', '[1,2', 'nul', '{"a":1}}', '\u0000', '{"a":"\\ud800"}', '{"a":NaN}')
            default:
              return fc.constant(JSON.stringify(object))
          }
        })
    return fc.tuple(pathArb, queryArb, bodyArb).map(([pathValues, query, payload]) => {
      let url = op.path
      pathParams.forEach((p, i) => {
        const value = pathValues[i]!
        url = url.replace(`{${p.name}}`, BAD_PATH_VALUES.includes(value) ? value : encodeURIComponent(value))
      })
      const search = query.filter((q): q is readonly [string, string] => q !== undefined).map(([k, v]) => `${encodeURIComponent(k)}=${BAD_QUERY_VALUES.includes(v) && v.startsWith('%') ? v : encodeURIComponent(v)}`)
      if (search.length > 0) url += `?${search.join('&')}`
      const headers: Record<string, string> = { ...fixtures.tokens[kind === 'no-auth' ? 'none' : 'admin'] }
      if (payload !== undefined) headers['content-type'] = kind === 'wrong-content-type' ? 'text/plain' : 'application/json'
      return { op, kind, url, headers, ...(payload !== undefined ? { payload } : {}) }
    })
  })
}

// ---- checking answers --------------------------------------------------------------------------

function responseValidators(ops: Op[], components: Record<string, unknown>): Map<string, ValidateFunction> {
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true, validateFormats: true }))
  const out = new Map<string, ValidateFunction>()
  for (const op of ops) {
    for (const [status, response] of Object.entries(op.operation.responses)) {
      const schema = response.content?.['application/json']?.schema
      if (schema) out.set(`${op.operation.operationId} ${status}`, ajv.compile(resolveRefs(schema, components)))
    }
  }
  return out
}

// The whole stack as real processes, on its own database, Redis prefix and ports (stopped and
// dropped when the file ends), exactly as the system tests run it. Start-up is not what this run
// measures: on a loaded two-core box, loading integration-service's SDKs has taken minutes.
const stack = await startStack({ readyTimeoutMs: 600_000 })

test(`fuzzing the public API through the gateway from its OpenAPI document (${process.env.FUZZ_BUDGET ?? 'ci'} budget, seed ${seed})`, { timeout: budget.ms + 600_000 }, async () => {
  const document = await servedDocument(stack)
  const components = (document.components?.schemas ?? {}) as Record<string, unknown>
  const ops = operations(document)
  const validators = responseValidators(ops, components)
  const pidsBefore = new Map(stack.processes.specs.map((spec) => [spec.name, stack.processes.pid(spec.name)]))

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const fixtures: Fixtures = {
    venueId: await hub(stack).createVenue('Fuzz Hall'),
    tokens: { admin: bearer(stack.adminToken), viewer: bearer(stack.token({ roles: ['viewer'] })), none: {} },
  }

  const figures = { requests: 0, byStatus: {} as Record<string, number>, serverErrors: 0, hangs: 0, notProblem: 0, schemaMismatches: 0 }
  const failures: string[] = []
  const arbitrary = fc.constantFrom(...ops).chain((op) => requestFor(op, components, fixtures))
  const started = Date.now()
  await fc.assert(
    fc.asyncProperty(arbitrary, async (fuzz) => {
      figures.requests++
      const label = `${fuzz.kind} ${fuzz.op.method} ${fuzz.url.slice(0, 160)}`
      let response: { statusCode: number; headers: Record<string, string | string[] | undefined>; body: string }
      try {
        // The path goes out as generated (bad percent-encoding included), not re-encoded by a URL parser.
        const answer = await getGlobalDispatcher().request({
          origin: stack.gateway,
          path: fuzz.url,
          method: fuzz.op.method as 'GET',
          headers: fuzz.headers,
          ...(fuzz.payload !== undefined ? { body: fuzz.payload } : {}),
          headersTimeout: ANSWER_TIMEOUT_MS,
          bodyTimeout: ANSWER_TIMEOUT_MS,
        })
        response = { statusCode: answer.statusCode, headers: answer.headers, body: await answer.body.text() }
      } catch (error) {
        figures.hangs++
        failures.push(`no answer: ${label}: ${String(error)}`)
        return true
      }
      const klass = `${Math.floor(response.statusCode / 100)}xx`
      figures.byStatus[klass] = (figures.byStatus[klass] ?? 0) + 1
      const answered = `${label} → ${response.statusCode}`
      const type = String(response.headers['content-type'] ?? '')
      if (response.statusCode >= 500) {
        figures.serverErrors++
        failures.push(`5xx: ${answered} ${response.body.slice(0, 200)}`)
      } else if (response.statusCode >= 400) {
        let code: unknown
        try {
          code = (JSON.parse(response.body) as { code?: unknown }).code
        } catch {
          code = undefined
        }
        if (!type.startsWith('application/problem+json') || typeof code !== 'string') {
          figures.notProblem++
          failures.push(`4xx not problem+json: ${answered} ${type} ${response.body.slice(0, 200)}`)
        }
      } else if (response.statusCode >= 200 && response.statusCode < 300) {
        const validate = validators.get(`${fuzz.op.operation.operationId} ${response.statusCode}`)
        if (validate && type.startsWith('application/json') && !validate(JSON.parse(response.body))) {
          figures.schemaMismatches++
          failures.push(`2xx mismatch: ${answered} ${JSON.stringify(validate.errors?.slice(0, 3))}`)
        }
      }
      return true
    }),
    { numRuns: budget.runs, interruptAfterTimeLimit: budget.ms, seed, endOnFailure: true },
  )
  const seconds = ((Date.now() - started) / 1000).toFixed(1)

  // Nothing died or restarted, and every process still answers its readiness probe.
  for (const spec of stack.processes.specs) {
    assert.ok(stack.processes.isRunning(spec.name), `${spec.name} died during the fuzz run`)
    assert.equal(stack.processes.pid(spec.name), pidsBefore.get(spec.name), `${spec.name} was restarted during the fuzz run`)
  }
  const probes = [`${stack.gateway}/ready`, ...(['venue-service', 'integration-service', 'compliance-service'] as const).map((service) => `${stack.serviceUrl(service)}/ready`), `http://127.0.0.1:${stack.ports.worker}/ready`]
  for (const url of probes) {
    const ready = await fetch(url, { signal: AbortSignal.timeout(30_000) })
    assert.equal(ready.status, 200, `${url} after fuzzing: ${await ready.text()}`)
  }
  console.log(
    `fuzz through the gateway: seed ${seed}, ${ops.length} operations, ${figures.requests} requests in ${seconds} s, by status ${JSON.stringify(figures.byStatus)}, 5xx ${figures.serverErrors}, no answer ${figures.hangs}, 4xx not problem+json ${figures.notProblem}, 2xx schema mismatches ${figures.schemaMismatches}`,
  )
  assert.deepEqual(failures.slice(0, 25), [], `${failures.length} failures (replay with FUZZ_SEED=${seed})`)
})
