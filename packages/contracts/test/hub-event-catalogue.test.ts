import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { HUB_EVENT_CATALOGUE, HUB_EVENT_TYPES, hubEventCatalogueDocument, hubEventProblem, type HubEvent } from '../src/index.ts'

const envelope = (type: HubEvent['type'], data: Record<string, unknown>): HubEvent => ({
  id: randomUUID(),
  type,
  version: 1,
  tenantId: randomUUID(),
  venueId: randomUUID(),
  connectionId: randomUUID(),
  sequence: 1,
  occurredAt: new Date().toISOString(),
  data,
})

const completed = envelope('integration.sync.completed', {
  syncLogId: randomUUID(),
  provider: 'stripe',
  entity: 'customer',
  kind: 'pull',
  mode: 'full',
  trigger: 'manual',
  status: 'succeeded',
  counts: { fetched: 3, created: 3, updated: 0, unchanged: 0, deleted: 0, failed: 0 },
  startedAt: new Date(Date.now() - 1000).toISOString(),
  finishedAt: new Date().toISOString(),
  durationMs: 1000,
})

test('every type has a documented data schema for version 1', () => {
  for (const type of HUB_EVENT_TYPES) {
    const entry = HUB_EVENT_CATALOGUE[type]
    assert.ok(entry.description.length > 10, type)
    assert.ok(entry.versions[1], type)
  }
})

test('an independent JSON Schema validator (Ajv, draft 2020-12) given the document accepts an event and refuses a malformed one', () => {
  const ajv = new Ajv2020({ strict: false })
  addFormats.default(ajv)
  const validate = ajv.compile(hubEventCatalogueDocument())
  assert.equal(validate(completed), true, JSON.stringify(validate.errors))
  assert.equal(validate({ ...completed, data: { ...completed.data, status: 'exploded' } }), false)
  assert.equal(validate({ ...completed, type: 'integration.sync.failed' }), false, 'the data of a completed run is not a failure')
  assert.equal(validate({ ...completed, sequence: 0 }), false)
})

test('hubEventProblem agrees: valid events pass, wrong data, unknown versions and extra envelope fields are named', () => {
  assert.equal(hubEventProblem(completed), null)
  assert.match(String(hubEventProblem({ ...completed, version: 9 })), /unknown version 9/)
  assert.match(String(hubEventProblem({ ...completed, data: { ...completed.data, counts: { fetched: -1 } } })), /^data:/)
  assert.match(String(hubEventProblem({ ...completed, extra: true })), /^envelope:/)
  assert.match(String(hubEventProblem({ ...completed, occurredAt: 'yesterday' })), /^envelope:/)
  assert.match(String(hubEventProblem(null)), /^envelope:/)
})

test('records.changed carries provider ids only, never record content', () => {
  const ok = envelope('integration.records.changed', { syncLogId: null, provider: 'square', entity: 'customer', created: ['a'], updated: [], deleted: ['b'] })
  assert.equal(hubEventProblem(ok), null)
  assert.match(String(hubEventProblem({ ...ok, data: { ...ok.data, records: [{ email: 'x@example.com' }] } })), /^data:/)
  assert.match(String(hubEventProblem({ ...ok, data: { ...ok.data, created: Array.from({ length: 501 }, (_, i) => `id${i}`) } })), /^data:/)
})
