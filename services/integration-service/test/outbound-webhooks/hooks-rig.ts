// Shared set-up for the tenant webhook tests: a database and Redis prefix per file, an app with
// its delivery processing running in-process, receivers on 127.0.0.1 (port 0) that verify each
// delivery with the registry's `standardwebhooks` package (not the hub's own signing code), and a
// resolver the test controls so host names can point wherever an attacker would make them point.
import { after, type TestContext } from 'node:test'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { createFastify } from '@hub/service-kit'
import { bearer, captureLogs, testToken } from '@hub/service-kit/testing'
import type { HubEvent, HubEventType } from '@hub/contracts'
import integrationService, { SERVICE_NAME } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import type { ResolvedAddress } from '../../src/plugins/app/outbound-webhooks/url-guard.ts'
import { setupIntegrationTests } from '../helpers.ts'

export interface Delivery {
  id: string
  timestamp: string
  signature: string
  body: string
  event: HubEvent
}

/** `{ answer }`: takes the delivery like `up`, then answers 200 with these bytes. */
export type ReceiverMode = 'up' | 'down' | 'error' | 'hang' | { redirect: string } | { answer: Buffer }

/** A tenant's receiver: keeps every delivery; `mode` decides how it answers. */
export async function startReceiver() {
  const deliveries: Delivery[] = []
  /** The webhook-id of every request, answered or not. */
  const requestIds: string[] = []
  let mode: ReceiverMode = 'up'
  let hits = 0
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    hits += 1
    requestIds.push(String(request.headers['webhook-id'] ?? ''))
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (mode === 'down') {
        // As unreachable as a receiver can be while its port stays ours: no answer at all.
        request.socket.destroy()
        return
      }
      // Reads the request and never answers (until the test's server closes).
      if (mode === 'hang') return
      if (mode === 'error') {
        response.writeHead(500, { 'content-type': 'text/plain' }).end('receiver exploded: ' + 'x'.repeat(4000))
        return
      }
      if (typeof mode === 'object' && 'redirect' in mode) {
        response.writeHead(302, { location: mode.redirect }).end()
        return
      }
      const body = Buffer.concat(chunks).toString('utf8')
      const header = (name: string) => String(request.headers[name] ?? '')
      deliveries.push({ id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature'), body, event: JSON.parse(body) as HubEvent })
      if (typeof mode === 'object') {
        response.writeHead(200, { 'content-type': 'text/plain' }).end(mode.answer)
        return
      }
      response.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  after(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return {
    port,
    url: `http://127.0.0.1:${port}/hooks`,
    deliveries,
    requestIds,
    get hits() {
      return hits
    },
    setMode(next: ReceiverMode) {
      mode = next
    },
    /** Throws unless the delivery verifies with `secret` (standardwebhooks, a library from the registry). */
    verify(delivery: Delivery, secret: string): unknown {
      return new Webhook(secret).verify(delivery.body, { 'webhook-id': delivery.id, 'webhook-timestamp': delivery.timestamp, 'webhook-signature': delivery.signature })
    },
  }
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>

/** The retry schedule of the Standard Webhooks spec divided by 3600: one hour takes one second. */
export const COMPRESSED_SCHEDULE = '0ms,1ms,83ms,500ms,2s,5s,10s,10s'

export async function setupHooksRig() {
  const { env, db } = await setupIntegrationTests()
  // Host name -> answers; anything else does not resolve.
  const dns = new Map<string, ResolvedAddress[]>()
  const resolver = async (hostname: string): Promise<ResolvedAddress[]> => {
    const answers = dns.get(hostname)
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    return answers
  }

  async function build(t: TestContext, extraEnv: Record<string, string> = {}, options: { process?: boolean } = {}) {
    const captured = captureLogs('debug')
    const app = createFastify({ service: SERVICE_NAME, loggerInstance: captured.logger })
    const config = loadConfig({ ...env, SECURITY_EVENT_WINDOW_MS: '0', OUTBOUND_WEBHOOK_RETRY_SCHEDULE: COMPRESSED_SCHEDULE, OUTBOUND_WEBHOOK_SWEEP_INTERVAL_MS: '200', OUTBOUND_WEBHOOK_TIMEOUT_MS: '2000', ...extraEnv })
    await app.register(integrationService, { config, resolver })
    await app.ready()
    if (options.process !== false) app.outboundWebhookInternals.start()
    t.after(() => app.close())
    return { app, logs: captured.lines }
  }

  const admin = (tenantId: string) => bearer(testToken({ tenantId, roles: ['admin'], sub: `admin-${randomUUID()}` }))

  let sequence = 0
  /** A hub event as the bus would hand it to fanOut. */
  function event(tenantId: string, venueId: string, type: HubEventType = 'integration.sync.completed', data: Record<string, unknown> = {}): HubEvent {
    sequence += 1
    return { id: randomUUID(), type, version: 1, tenantId, venueId, connectionId: randomUUID(), sequence, occurredAt: new Date().toISOString(), data: { entity: 'customers', created: 1, updated: 2, ...data } }
  }

  const count = async (sql: string, params: unknown[] = []) => Number((await db.adminQuery<{ n: string }>(`select count(*)::text as n from ${sql}`, params))[0]?.n ?? 0)

  return { env, db, dns, build, admin, event, count }
}

/** Polls until `check` returns a value (not undefined/false), or fails after the deadline. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, deadlineMs = 30_000): Promise<T> {
  const until = Date.now() + deadlineMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
