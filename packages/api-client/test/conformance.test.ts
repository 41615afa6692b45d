import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createApiClient } from '../src/index.ts'
import { ContractViolation, conformance, type OpenApiDocument } from '../src/conformance.ts'

const Problem = { type: 'object', required: ['code'], properties: { code: { type: 'string' } } }
const document: OpenApiDocument = {
  paths: {
    '/api/v1/things/{id}': {
      get: {
        responses: {
          200: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
          404: { content: { 'application/problem+json': { schema: Problem } } },
        },
      },
      delete: { responses: { 204: {} } },
    },
    '/api/v1/things/count': { get: { responses: { 200: { content: { 'text/csv': { schema: { type: 'string' } } } } } } },
  },
  components: { schemas: { Thing: { type: 'object', required: ['id', 'createdAt'], additionalProperties: false, properties: { id: { type: 'string', format: 'uuid' }, createdAt: { type: 'string', format: 'date-time' } } } } },
}

const ID = '4f1c2a9e-0000-4000-8000-000000000001'
const answer = (status: number, body: string | null, type?: string) => async () => new Response(body, { status, headers: type ? { 'content-type': type } : {} })

function clientAnswering(fetch: () => Promise<Response>) {
  return createApiClient('http://hub.test', 'token', { fetch, middleware: [conformance(async () => document).middleware] })
}

test('a response the document declares passes, with the body the types promise', async () => {
  const thing = { id: ID, createdAt: '2026-01-01T00:00:00.000Z' }
  const { data } = await clientAnswering(answer(200, JSON.stringify(thing), 'application/json; charset=utf-8')).request('get', `/api/v1/things/${ID}` as never)
  assert.deepEqual(data, thing)
  await clientAnswering(answer(404, '{"code":"THING_NOT_FOUND"}', 'application/problem+json')).request('get', `/api/v1/things/${ID}` as never)
  await clientAnswering(answer(204, null)).request('delete', `/api/v1/things/${ID}` as never)
  // A literal segment is its own operation, not an {id}.
  await clientAnswering(answer(200, 'a,b\r\n', 'text/csv; charset=utf-8')).request('get', '/api/v1/things/count' as never, { parseAs: 'text' } as never)
  await clientAnswering(answer(503, '{"code":"UPSTREAM_UNAVAILABLE"}', 'application/problem+json')).request('get', `/api/v1/things/${ID}` as never)
})

test('a response the document does not declare rejects the call with a ContractViolation', async () => {
  const cases: Array<[string, () => Promise<Response>, string, RegExp]> = [
    ['a body off its schema', answer(200, JSON.stringify({ id: 'not-a-uuid', createdAt: 'yesterday', extra: 1 }), 'application/json'), 'get', /does not match the document's schema/],
    ['a required field missing', answer(200, JSON.stringify({ id: ID }), 'application/json'), 'get', /createdAt/],
    ['a status it does not declare', answer(409, '{"code":"X"}', 'application/problem+json'), 'get', /status not declared/],
    ['an error in another media type', answer(404, '{"code":"X"}', 'application/json'), 'get', /application\/json, but the document declares application\/problem\+json/],
    ['a success it does not declare', answer(200, 'x', 'text/plain'), 'delete', /status not declared/],
    ['a gateway error that is not a problem', answer(502, 'Bad Gateway', 'text/plain'), 'get', /not a problem document/],
  ]
  for (const [what, fetch, method, message] of cases) {
    await assert.rejects(clientAnswering(fetch).request(method as 'get', `/api/v1/things/${ID}` as never), (error: Error) => error instanceof ContractViolation && message.test(error.message), what)
  }
  await assert.rejects(clientAnswering(answer(200, '{}', 'application/json')).request('get', '/api/v1/unknown' as never), /no such operation/)
})
