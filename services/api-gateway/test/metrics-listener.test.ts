import { test } from 'node:test'
import assert from 'node:assert/strict'
import { listenLocal, rawRequest, scrapeMetrics } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()

test('metrics are served on their own listener, not on the public one', async () => {
  const gateway = await build()
  const base = await listenLocal(gateway)
  await fetch(`${base}/health`).then((response) => response.arrayBuffer())
  const publicMetrics = await rawRequest(base, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
  assert.equal(publicMetrics.status, 404)
  const metricsUrl = gateway.metrics.url()
  assert.ok(metricsUrl && new URL(metricsUrl).port !== new URL(base).port, 'a port of its own')
  assert.match(await scrapeMetrics(gateway), /http_request_duration_seconds_count\{[^}]*route="\/health"/)
})
