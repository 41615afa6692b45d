// A tenant chooses where the hub sends requests: every way of pointing that at the hub's own
// network is refused, at registration and again at each delivery, and each refusal is stored as a
// security event. Host names resolve through the test's resolver (DNS rebinding, metadata names).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { request } from 'undici'
import { eventually, setupHooksRig, startReceiver } from './hooks-rig.ts'
import { loadConfig } from '../../src/config.ts'
import { addressRange, createUrlGuard, isPublicAddress, pinnedDispatcher, UrlRefusedError } from '../../src/plugins/app/outbound-webhooks/url-guard.ts'

const rig = await setupHooksRig()
// What an attacker's names resolve to.
rig.dns.set('rebind.attacker.test', [{ address: '127.0.0.1', family: 4 }])
rig.dns.set('metadata.attacker.test', [{ address: '169.254.169.254', family: 4 }])
rig.dns.set('mixed.attacker.test', [
  { address: '93.184.216.34', family: 4 },
  { address: '10.1.2.3', family: 4 },
])
rig.dns.set('v6.attacker.test', [{ address: '::ffff:7f00:1', family: 6 }])

const refusedAtRegistration = [
  'http://127.0.0.1/hook',
  'http://2130706433/hook',
  'http://0x7f000001/hook',
  'http://0177.0.0.1/hook',
  'http://0x7f.1/hook',
  'http://127.1/hook',
  'http://[::1]/hook',
  'http://[::ffff:127.0.0.1]/hook',
  'http://[::ffff:a9fe:a9fe]/latest/meta-data',
  'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
  'http://2852039166/latest/meta-data',
  'http://10.0.0.5/hook',
  'http://172.16.3.4/hook',
  'http://192.168.1.1/hook',
  'http://100.64.0.1/hook',
  'http://[fd12:3456::1]/hook',
  'http://[fe80::1]/hook',
  'http://0.0.0.0/hook',
  'http://[::]/hook',
  'http://224.0.0.251/hook',
  'http://[64:ff9b::7f00:1]/hook',
  'https://rebind.attacker.test/hook',
  'https://metadata.attacker.test/hook',
  'https://mixed.attacker.test/hook',
  'https://v6.attacker.test/hook',
]

test('registration refuses loopback, private, link-local, metadata and the like, in every literal form and behind names', async (t) => {
  const { app } = await rig.build(t, {}, { process: false })
  const tenantId = randomUUID()
  for (const url of refusedAtRegistration) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: { url, eventTypes: ['integration.sync.completed'] } })
    assert.equal(response.statusCode, 400, `${url}: ${response.body}`)
    assert.equal(response.headers['content-type'], 'application/problem+json')
    assert.equal(response.json().code, 'WEBHOOK_URL_REFUSED', url)
    assert.equal(response.json().reason, 'blocked_address', url)
  }
  const credentials = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: { url: 'https://user:pass@hooks.example.com/x', eventTypes: ['integration.sync.completed'] } })
  assert.equal(credentials.json().reason, 'credentials_in_url')
  const unresolvable = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: { url: 'https://nowhere.attacker.test/x', eventTypes: ['integration.sync.completed'] } })
  assert.equal(unresolvable.json().reason, 'unresolvable')
  assert.equal(await rig.count('integration.webhook_endpoints where tenant_id = $1', [tenantId]), 0)

  // A PATCH to such a URL is refused the same way.
  rig.dns.set('fine.example.test', [{ address: '93.184.216.34', family: 4 }])
  const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: { url: 'https://fine.example.test/x', eventTypes: ['integration.sync.completed'] } })
  assert.equal(created.statusCode, 201, created.body)
  const patched = await app.inject({ method: 'PATCH', url: `/api/v1/integrations/webhook-endpoints/${created.json().id}`, headers: rig.admin(tenantId), payload: { url: 'http://0x7f000001:6379/' } })
  assert.equal(patched.statusCode, 400)
  assert.equal(patched.json().code, 'WEBHOOK_URL_REFUSED')

  // Each refused address is a stored security event (the host only: a path or query may hold a token).
  const stored = await eventually(async () => {
    const rows = await rig.db.adminQuery<{ event: { code: string; details: { host: string; stage: string; range: string } } }>(
      "select event from integration.security_event_outbox where tenant_id = $1 and event->>'code' = 'OUTBOUND_WEBHOOK_URL_REFUSED'",
      [tenantId],
    )
    return rows.length >= refusedAtRegistration.length + 2 ? rows : undefined
  }, 'the stored security events')
  const hosts = new Set(stored.map((row) => row.event.details.host))
  assert.ok(hosts.has('127.0.0.1') && hosts.has('169.254.169.254') && hosts.has('metadata.attacker.test') && hosts.has('rebind.attacker.test'))
  assert.ok(stored.every((row) => row.event.details.stage === 'registration'))
  assert.ok(stored.some((row) => row.event.details.range === 'linkLocal'))
  assert.ok(!JSON.stringify(stored).includes('security-credentials'))
})

test('a name that resolved to a public address at registration and to 127.0.0.1 at delivery (DNS rebinding) is refused at delivery', async (t) => {
  const receiver = await startReceiver()
  const { app } = await rig.build(t)
  const tenantId = randomUUID()
  rig.dns.set('flip.attacker.test', [{ address: '93.184.216.34', family: 4 }])
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/integrations/webhook-endpoints',
    headers: rig.admin(tenantId),
    payload: { url: `http://flip.attacker.test:${receiver.port}/hooks`, eventTypes: ['integration.sync.completed'] },
  })
  assert.equal(created.statusCode, 201, created.body)
  const endpointId = created.json().id as string
  rig.dns.set('flip.attacker.test', [{ address: '127.0.0.1', family: 4 }])

  await app.outboundWebhooks.fanOut(rig.event(tenantId, randomUUID()))
  const attempt = await eventually(async () => {
    const rows = await rig.db.adminQuery<{ outcome: string; error: string }>('select outcome, error from integration.webhook_attempts where endpoint_id = $1', [endpointId])
    return rows[0]
  }, 'the refused attempt')
  assert.equal(attempt.outcome, 'refused')
  assert.match(attempt.error, /blocked_address \(loopback\)/)
  assert.equal(receiver.hits, 0)
  await eventually(async () => (await rig.count("integration.security_event_outbox where tenant_id = $1 and event->'details'->>'stage' = 'delivery'", [tenantId])) > 0, 'the delivery-time security event')
})

test('redirects are never followed, not even to an allowed receiver, let alone to the metadata address', async (t) => {
  const receiver = await startReceiver()
  const trap = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port},127.0.0.1:${trap.port}`, OUTBOUND_WEBHOOK_RETRY_SCHEDULE: '0ms' })
  const tenantId = randomUUID()
  const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: { url: receiver.url, eventTypes: ['integration.sync.completed'] } })
  const endpointId = created.json().id as string
  for (const target of [trap.url, 'http://169.254.169.254/latest/meta-data/', `http://2130706433:${trap.port}/`]) {
    receiver.setMode({ redirect: target })
    const event = rig.event(tenantId, randomUUID())
    await app.outboundWebhooks.fanOut(event)
    const attempt = await eventually(async () => {
      const rows = await rig.db.adminQuery<{ outcome: string; error: string; response_status: number }>(
        'select a.outcome, a.error, a.response_status from integration.webhook_attempts a join integration.webhook_messages m on m.id = a.message_id where m.event_id = $1',
        [event.id],
      )
      return rows[0]
    }, 'the redirected attempt')
    assert.equal(attempt.outcome, 'failed')
    assert.equal(attempt.response_status, 302)
    assert.match(attempt.error, /redirect not followed/)
  }
  assert.equal(trap.hits, 0)
  await eventually(async () => (await rig.count("integration.webhook_messages where endpoint_id = $1 and status = 'failed'", [endpointId])) === 3, 'three failed messages')
})

test('the connection goes to the address that was checked, whatever the name resolves to afterwards', async () => {
  const receiver = await startReceiver()
  // No resolver knows this name; only the pinned lookup can get the request to the receiver.
  const dispatcher = pinnedDispatcher({ address: '127.0.0.1', family: 4 }, 2000)
  const response = await request(`http://pinned.invalid:${receiver.port}/hooks`, { method: 'POST', dispatcher, body: '{"id":"x"}', headers: { 'webhook-id': 'm1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' } })
  await response.body.dump()
  assert.equal(response.statusCode, 204)
  assert.equal(receiver.deliveries.length, 1)
  await dispatcher.close()
})

test('address classification: only public unicast passes; the allow-list is exact (host or host:port)', async () => {
  for (const address of ['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111']) assert.ok(isPublicAddress(address), address)
  for (const address of [
    '127.0.0.1',
    '::1',
    '::ffff:127.0.0.1',
    '169.254.169.254',
    '10.0.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '100.100.100.200',
    'fc00::1',
    'fe80::1',
    '0.0.0.0',
    '::',
    '255.255.255.255',
    '239.1.1.1',
    'ff02::1',
    '2002:7f00:1::1',
    '198.18.0.1',
    'not-an-ip',
  ]) {
    assert.ok(!isPublicAddress(address), address)
  }
  assert.equal(addressRange('::ffff:169.254.169.254'), 'linkLocal')
  const guard = createUrlGuard({ allowedHosts: ['127.0.0.1:8080', 'localhost'], resolver: async () => [{ address: '127.0.0.1', family: 4 }] })
  assert.equal((await guard.check('http://127.0.0.1:8080/x')).pinned.address, '127.0.0.1')
  assert.equal((await guard.check('http://localhost:9999/x')).pinned.address, '127.0.0.1')
  await assert.rejects(guard.check('http://127.0.0.1:6379/'), (error: unknown) => error instanceof UrlRefusedError && error.reason === 'blocked_address')
  await assert.rejects(guard.check('gopher://127.0.0.1:8080/'), (error: unknown) => error instanceof UrlRefusedError && error.reason === 'scheme')
})

test('the development allow-list is refused in production', () => {
  assert.throws(() => loadConfig({ ...rig.env, NODE_ENV: 'production', OUTBOUND_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1:8080' }), /OUTBOUND_WEBHOOK_ALLOWED_HOSTS: not allowed in production/)
})
