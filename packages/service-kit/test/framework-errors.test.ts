import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { createFastify, serviceKit } from '../src/index.ts'
import { listenLocal, rawRequest, type RawResponse } from '../src/testing/index.ts'

const app = createFastify({ service: 'kit-test', logLevel: 'silent' })
await app.register(serviceKit, { service: 'kit-test' })
app.get('/api/v1/things/:id', { config: { auth: false }, schema: { params: Type.Object({ id: Type.String({ maxLength: 200 }) }) } }, async (request) => ({ id: request.params.id }))
app.post('/api/v1/things', { config: { auth: false } }, async () => ({ ok: true }))
const base = await listenLocal(app)
after(() => app.close())

const MARKER = 'zzmarkerzz'

function assertProblem(response: RawResponse, status: number, code: string): void {
  assert.equal(response.status, status, `${code}: ${response.body}`)
  assert.match(response.headers['content-type'] ?? '', /^application\/problem\+json/, code)
  const body = JSON.parse(response.body) as { code: string; requestId: string; status: number }
  assert.equal(body.code, code)
  assert.equal(body.status, status)
  assert.ok(body.requestId, `${code} carries a requestId`)
  assert.ok(!response.body.includes(MARKER), `${code} does not echo the URL or body`)
}

test('renders bad percent-encoding, over-long parameters, 413, 415, 431, malformed JSON and malformed HTTP as problem+json', async () => {
  assertProblem(await rawRequest(base, `GET /api/v1/things/${MARKER}%zz HTTP/1.1\r\nHost: x\r\n\r\n`), 400, 'BAD_URL')
  assertProblem(await rawRequest(base, `GET /api/v1/things/${MARKER}${'a'.repeat(2000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 414, 'URI_TOO_LONG')
  assertProblem(await rawRequest(base, `GET /api/v1/things/${MARKER} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'HEADERS_TOO_LARGE')
  assertProblem(await rawRequest(base, `GET /${MARKER}${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'HEADERS_TOO_LARGE')
  assertProblem(await rawRequest(base, `NOT HTTP ${MARKER}\r\n\r\n`), 400, 'MALFORMED_REQUEST')
  assertProblem(await rawRequest(base, `POST /api/v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{${MARKER}}`), 400, 'INVALID_JSON')
  assertProblem(await rawRequest(base, `POST /api/v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 12\r\n\r\n<${MARKER}>`), 415, 'UNSUPPORTED_MEDIA_TYPE')
  const chunk = 'a'.repeat(300 * 1024)
  const tooLarge = await rawRequest(base, `POST /api/v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`)
  assertProblem(tooLarge, 413, 'PAYLOAD_TOO_LARGE')
  assert.ok(tooLarge.closed, 'the connection is closed after a 413')
})

test('lets a path parameter as long as a schema allows (percent-encoded) reach its route', async () => {
  const id = 'é'.repeat(200)
  const response = await rawRequest(base, `GET /api/v1/things/${encodeURIComponent(id)} HTTP/1.1\r\nHost: x\r\n\r\n`)
  assert.equal(response.status, 200, response.body)
  assert.equal(JSON.parse(response.body).id, id)
})
