import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConflictError } from '@hub/contracts'
import { InternalCallError } from '@hub/internal-auth'
import { toProblem } from '../src/plugins/error-handler.ts'
import { findBadString, InvalidJsonError, JsonTooDeepError, parseJsonBounded } from '../src/plugins/input-guard.ts'
import { clipHeader, clipPath, MAX_LOGGED_PATH } from '../src/logger.ts'

const logged: unknown[] = []
const request = { log: { error: (entry: unknown) => logged.push(entry) } } as never

test('an AppError keeps its status, code, message and extra members', () => {
  const problem = toProblem(new ConflictError('SYNC_ALREADY_RUNNING', 'A run is under way.', { entities: ['customer'] }), request)
  assert.equal(problem.status, 409)
  assert.equal(problem.code, 'SYNC_ALREADY_RUNNING')
  assert.equal(problem.detail, 'A run is under way.')
  assert.deepEqual((problem as { entities?: unknown }).entities, ['customer'])
})

test('framework refusals get a fixed detail that never echoes the request, and unknown errors are an opaque 500', () => {
  const tooLarge = toProblem(Object.assign(new Error('Request body of 999999 bytes from /secret?token=abc is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }), request)
  assert.equal(tooLarge.status, 413)
  assert.equal(tooLarge.code, 'PAYLOAD_TOO_LARGE')
  assert.doesNotMatch(tooLarge.detail ?? '', /token/)
  const before = logged.length
  const crash = toProblem(new Error('relation "integration.secrets" does not exist at password=hunter2'), request)
  assert.deepEqual({ status: crash.status, code: crash.code, detail: crash.detail }, { status: 500, code: 'INTERNAL_ERROR', detail: 'An unexpected error occurred.' })
  assert.equal(logged.length, before + 1, 'the real error is logged instead')
  const refused = toProblem(Object.assign(new Error('slow down'), { statusCode: 429 }), request)
  assert.equal(refused.code, 'RATE_LIMITED')
})

test('an internal call that found its service down, slow or failing is a 503 DEPENDENCY_UNAVAILABLE; one it refused stays a 500', () => {
  const call = (status: number | null, code: string) => new InternalCallError({ method: 'GET', path: '/internal/sync-logs', status, code, attempts: 3 })
  for (const error of [call(null, 'INTERNAL_CALL_NETWORK_ERROR'), call(null, 'INTERNAL_CALL_TIMEOUT'), call(500, 'INTERNAL_ERROR'), call(502, 'HTTP_502'), call(503, 'DEPENDENCY_UNAVAILABLE'), call(504, 'HTTP_504')]) {
    const problem = toProblem(error, request)
    assert.deepEqual([problem.status, problem.code, problem.title], [503, 'DEPENDENCY_UNAVAILABLE', 'Service Unavailable'], error.message)
    assert.doesNotMatch(problem.detail ?? '', /internal\/sync-logs/, 'the internal path stays in the log')
  }
  // A refusal by the other service is this service's bug (a missing permission, a bad request): retrying will not help.
  for (const error of [call(403, 'INTERNAL_AUTH_FORBIDDEN'), call(400, 'VALIDATION_FAILED'), call(null, 'INTERNAL_CALL_ABORTED')]) {
    assert.equal(toProblem(error, request).status, 500, error.message)
  }
})

test('JSON deeper than the limit is refused before parsing; brackets inside strings do not count', () => {
  assert.deepEqual(parseJsonBounded('{"a":[1,{"b":"[[[["}]}', 3), { a: [1, { b: '[[[[' }] })
  assert.throws(() => parseJsonBounded('[[[[1]]]]', 3), JsonTooDeepError)
  assert.deepEqual(parseJsonBounded('"\\"[[[["', 1), '"[[[[', 'an escaped quote does not end the string')
  assert.throws(() => parseJsonBounded('   '), InvalidJsonError)
  assert.throws(() => parseJsonBounded('{"a":'), InvalidJsonError)
})

test('findBadString points at the first NUL or lone surrogate, in values and in keys', () => {
  assert.equal(findBadString({ a: ['fine', { b: 'ok' }] }, ''), null)
  assert.equal(findBadString({ a: ['fine', { b: 'bad\u0000' }] }, ''), '/a/1/b')
  assert.equal(findBadString({ ['k\ud800']: 1 }, '/body')?.startsWith('/body'), true)
  assert.equal(findBadString('\udc00', '/q'), '/q')
})

test('log lines clip long paths and header values', () => {
  const long = `/${'a'.repeat(MAX_LOGGED_PATH * 2)}`
  assert.equal(clipPath(long).length, MAX_LOGGED_PATH + 1)
  assert.equal(clipPath('/short'), '/short')
  assert.equal(clipPath(undefined), undefined)
  assert.equal(clipHeader(['a', 'b']), 'a, b')
  assert.equal(clipHeader('x'.repeat(200), 10), `${'x'.repeat(10)}…`)
})
