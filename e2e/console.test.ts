// The integration console in real Chromium against the whole stack (simulators included), through
// the gateway only: sign in, connect Stripe by API key and Square by OAuth, sync customers to 100 %,
// find one in the records browser, roll a setting back, see it all in the audit log with a green
// integrity badge; a viewer sees no write action; axe-core finds nothing serious on any page; the
// first load stays under 200 KB of compressed JavaScript. Screenshots go to docs/screenshots/.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'
import type { BrowserContext, Page } from 'playwright-core'
import { apiClient, hub } from './support/hub.ts'
import { eventually, scenario, startStack, type E2EStack, type Json } from './support/stack.ts'
import { SCREENSHOTS, buildConsole, firstLoadJsBytes, launchBrowser, requireChromium, seriousA11yViolations } from './support/browser.ts'

const FIRST_LOAD_BUDGET = 200 * 1024
const STRIPE_KEY = 'sk_test_console00000000000000001'

requireChromium()
buildConsole()
// Few attempts and a low breaker threshold, so a provider outage dead-letters a job and opens the
// connection's breaker within seconds for the operator to act on; a long open period keeps it open.
const stack: E2EStack = await startStack({ env: { AUDIT_RELAY_INTERVAL_MS: '200', SYNC_JOB_ATTEMPTS: '2', SYNC_BREAKER_FAILURES: '2', SYNC_BREAKER_OPEN_MS: '600000' } })
const h = hub(stack)
let context: BrowserContext
let closeBrowser: () => Promise<void>
const cspViolations: string[] = []

before(async () => {
  ;({ context, close: closeBrowser } = await launchBrowser())
  context.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
  })
  mkdirSync(SCREENSHOTS, { recursive: true })
})
after(async () => {
  await closeBrowser?.()
})

async function expectAccessible(page: Page, name: string): Promise<void> {
  const violations = await seriousA11yViolations(page)
  assert.deepEqual(
    violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`),
    [],
    `axe on ${name}`,
  )
}

async function shoot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), scale: 'css', fullPage })
}

/** Signs in as a persona; from the home page, or (`fromHome` false) from the sign-in page the current page sent the browser to, which it then returns to. */
async function signIn(page: Page, persona: 'Demo admin' | 'Venue manager' | 'Viewer' | 'Operator', fromHome = true): Promise<void> {
  if (fromHome) await page.goto(`${stack.gateway}/`)
  await page.waitForURL('**/sign-in')
  await page.getByRole('button', { name: persona, exact: true }).click()
  if (!fromHome) return
  await page.waitForURL('**/venues')
  await page.getByRole('heading', { name: 'Venues', level: 1 }).waitFor()
}

let venueId = ''

describe('the integration console in Chromium', () => {
  scenario('first load is under 200 KB of compressed JavaScript', async () => {
    const { files, gzipBytes } = firstLoadJsBytes()
    assert.ok(files.length >= 1, 'index.html loads at least one script')
    assert.ok(gzipBytes < FIRST_LOAD_BUDGET, `first load: ${gzipBytes} bytes gzip over ${files.join(', ')}`)
  })

  scenario('an admin connects Stripe by API key and Square by OAuth', async () => {
    const page = await context.newPage()
    await page.goto(`${stack.gateway}/`)
    await page.waitForURL('**/sign-in')
    await expectAccessible(page, 'sign-in')
    await shoot(page, 'sign-in')
    await signIn(page, 'Demo admin')

    await page.getByLabel('Name').fill('Console Hall')
    await page.getByRole('button', { name: 'Add venue' }).click()
    await page.getByRole('link', { name: 'Console Hall' }).click()
    await page.waitForURL('**/venues/*')
    venueId = new URL(page.url()).pathname.split('/')[2] ?? ''
    assert.match(venueId, /^[0-9a-f-]{36}$/)

    await page.getByRole('combobox', { name: /^Provider/ }).selectOption('stripe')
    await page.getByLabel('API key').fill(STRIPE_KEY)
    await page.getByRole('button', { name: 'Connect with API key' }).click()
    const stripeRow = page.getByTestId('connection-stripe')
    await stripeRow.getByText('active').waitFor()
    const stripeText = await stripeRow.innerText()
    assert.match(stripeText, /sk_test_…0001/, 'credentials are shown masked')
    assert.ok(!stripeText.includes(STRIPE_KEY), 'the key never comes back')

    await page.getByRole('combobox', { name: /^Provider/ }).selectOption('square')
    const [popup] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Connect Square with OAuth' }).click()])
    await popup.waitForURL('**/oauth-complete?**')
    await popup.getByRole('heading', { name: 'square connected' }).waitFor()
    await page.getByTestId('connection-square').getByText('active').waitFor({ timeout: 30_000 })
    await page.getByText('Square connected.').waitFor()
    await expectAccessible(page, 'connections')
    await shoot(page, 'connections')
    await page.close()
  })

  scenario('sync customers with live progress to 100 %, then find one in the records browser', async () => {
    const { accountId } = await stack.sim('stripe', 'GET', `/_sim/accounts/lookup?credential=${STRIPE_KEY}`)
    await stack.sim('stripe', 'POST', `/_sim/accounts/${accountId}/seed`, { entity: 'customer', count: 250 })
    const { ids } = await stack.sim('stripe', 'GET', `/_sim/accounts/${accountId}/customer`)
    await stack.sim('stripe', 'PATCH', `/_sim/accounts/${accountId}/customer/${ids[0]}`, { name: 'Zelda Consoletest', email: 'zelda@consoletest.example' })

    const page = await context.newPage()
    await signIn(page, 'Demo admin')
    await page.getByRole('link', { name: 'Console Hall' }).click()
    await page.getByRole('link', { name: 'Sync', exact: true }).click()
    await page.getByRole('button', { name: 'Sync customers' }).first().click()
    const job = page.getByTestId('sync-job').first()
    await job.getByTestId('sync-percent').getByText('100 %').waitFor({ timeout: 60_000 })
    await job.getByText('completed').waitFor()
    assert.equal(await job.locator('progress').getAttribute('value'), '100')
    await page.getByRole('button', { name: 'Refresh' }).click()
    await page.getByRole('cell', { name: 'succeeded' }).first().waitFor()
    await expectAccessible(page, 'sync')
    await shoot(page, 'sync')

    await page.getByRole('link', { name: 'Records' }).click()
    await page.getByLabel('Search').fill('consoletest')
    const row = page.getByRole('row').filter({ hasText: 'Zelda Consoletest' })
    await row.waitFor()
    assert.match(await row.innerText(), /zelda@consoletest\.example/)
    assert.match(await row.innerText(), new RegExp(ids[0] as string))
    await expectAccessible(page, 'records')
    await shoot(page, 'records')
    await page.close()
  })

  scenario('roll a setting back, and see every action in the audit log with a green integrity badge', async () => {
    const page = await context.newPage()
    await signIn(page, 'Demo admin')
    await page.getByRole('link', { name: 'Console Hall' }).click()
    await page.getByRole('link', { name: 'Settings' }).click()
    await page.getByLabel('Key').fill('syncSchedule')
    await page.getByLabel('Value').fill('daily')
    await page.getByRole('button', { name: 'Save setting' }).click()
    await page.getByTestId('settings-version-1').waitFor()
    await page.getByLabel('Value').fill('every_15_minutes')
    await page.getByRole('button', { name: 'Save setting' }).click()
    await page.getByTestId('settings-version-2').getByText('every_15_minutes').waitFor()
    await page.getByRole('button', { name: 'Roll back to version 1' }).click()
    const rollback = page.getByTestId('settings-version-3')
    await rollback.getByText('rollback of version 1').waitFor()
    await page.getByTestId('current-settings').getByText('daily', { exact: true }).waitFor()
    await expectAccessible(page, 'settings')
    await shoot(page, 'settings')

    await page.getByRole('link', { name: 'Audit', exact: true }).click()
    const wanted = ['venue.created', 'connection.created', 'connection.oauth_completed', 'sync.triggered', 'settings.updated', 'settings.rolled_back']
    await eventually('every console action in the audit log', 20_000, async () => {
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.getByTestId('audit-entry').first().waitFor()
      const text = await page.locator('tbody').innerText()
      return wanted.every((action) => text.includes(action)) ? true : undefined
    }).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\nshown: ${await page.locator('tbody').innerText()}`)
    })
    await page.reload()
    await signIn(page, 'Demo admin')
    await page.getByRole('link', { name: 'Audit', exact: true }).click()
    const badge = page.getByTestId('integrity')
    await badge.waitFor()
    assert.match(await badge.innerText(), /Chain intact/)
    assert.match((await badge.getAttribute('class')) ?? '', /\bok\b/, 'the badge is green')
    await expectAccessible(page, 'audit')
    await shoot(page, 'audit')

    await page.getByRole('link', { name: 'Security events' }).click()
    await page.getByRole('heading', { name: 'Security events' }).waitFor()
    await expectAccessible(page, 'security events')
    await page.getByRole('link', { name: 'Operations' }).click()
    await page.getByRole('cell', { name: 'integration-high' }).waitFor()
    await expectAccessible(page, 'operations')
    await page.close()
  })

  scenario('a viewer sees no write action anywhere, and the console works by keyboard at 375 px', async () => {
    const page = await context.newPage()
    await page.setViewportSize({ width: 375, height: 740 })
    await page.goto(`${stack.gateway}/`)
    await page.waitForURL('**/sign-in')
    // Keyboard only: tab to the Viewer button and press Enter.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab')
      if ((await page.evaluate<string | undefined>('document.activeElement?.textContent?.trim()')) === 'Viewer') break
    }
    await page.keyboard.press('Enter')
    await page.waitForURL('**/venues')
    await page.getByRole('link', { name: 'Console Hall' }).waitFor()
    assert.equal(await page.getByRole('button', { name: 'Add venue' }).count(), 0)
    assert.equal(await page.getByRole('link', { name: 'Audit', exact: true }).count(), 0, 'auditor pages are for admins')

    await page.getByRole('link', { name: 'Console Hall' }).focus()
    await page.keyboard.press('Enter')
    await page.getByTestId('connection-stripe').waitFor()
    const writeActions = /^(Test|Disconnect|Connect|Sync |Cancel|Save setting|Roll back|Import|Add |Remove|Resolve|Pause|Resume|Retry|Discard|Reset)/
    for (const tab of ['Connections', 'Sync', 'Records', 'Field mappings', 'Settings']) {
      await page.getByRole('link', { name: tab, exact: true }).click()
      await page.waitForLoadState('networkidle')
      const buttons = await page.getByRole('button').allInnerTexts()
      assert.deepEqual(
        buttons.filter((label) => writeActions.test(label.trim())),
        [],
        `write actions on ${tab}`,
      )
      const width = await page.evaluate<number>('document.documentElement.scrollWidth')
      assert.ok(width <= 375, `${tab} fits 375 px (scrollWidth ${width})`)
      await expectAccessible(page, `${tab} as a viewer at 375 px`)
    }
    await page.getByRole('link', { name: 'Connections', exact: true }).click()
    await page.getByTestId('connection-stripe').waitFor()
    await shoot(page, 'viewer-mobile')

    // A write the screen does not offer is still refused by the API, in plain words with a request id.
    const refused = await apiClient(stack, stack.token({ roles: ['viewer'] })).POST('/api/v1/venues', { body: { name: 'x', timezone: 'UTC', currency: 'EUR' } })
    assert.equal(refused.response.status, 403)
    await page.close()
  })

  scenario("an admin resolves the viewer's refused write from the security events page", async () => {
    const page = await context.newPage()
    await signIn(page, 'Demo admin')
    await page.getByRole('link', { name: 'Security events' }).click()
    const refusal = page.getByTestId('security-event').filter({ hasText: 'FORBIDDEN' }).first()
    await eventually(
      'the refusal among the security events',
      20_000,
      async () => {
        await page.getByRole('button', { name: 'Refresh' }).click()
        return (await refusal.count()) > 0 ? true : undefined
      },
      500,
    )
    await refusal.getByRole('button', { name: 'Resolve' }).click()
    await page
      .getByTestId('security-event')
      .filter({ hasText: 'FORBIDDEN' })
      .first()
      .getByText(/^resolved/)
      .waitFor()
    await expectAccessible(page, 'security events')
    await shoot(page, 'security-events')
    await page.close()
  })

  scenario("a manager of one venue sees only that venue, no admin action, and a human error with the request id on another venue's page", async () => {
    // Created after Console Hall, so the development sign-in's manager (of the tenant's first venue) does not manage it.
    const otherId = await h.createVenue('Zeta Arena')
    const page = await context.newPage()
    await signIn(page, 'Venue manager')
    await page.getByRole('link', { name: 'Console Hall' }).waitFor()
    assert.equal(await page.getByRole('link', { name: 'Zeta Arena' }).count(), 0, 'another venue of the tenant is not listed')
    for (const adminOnly of ['Audit', 'Security events', 'Operations']) {
      assert.equal(await page.getByRole('link', { name: adminOnly, exact: true }).count(), 0, `no ${adminOnly} for a manager`)
    }
    assert.equal(await page.getByRole('button', { name: 'Add venue' }).count(), 0)
    await expectAccessible(page, 'venues as a manager')
    await shoot(page, 'manager-venues')

    // In its own venue the manager may act, but settings and field mappings stay with admins.
    await page.getByRole('link', { name: 'Console Hall' }).click()
    await page.getByRole('button', { name: 'Connect with API key' }).waitFor()
    await page.getByRole('link', { name: 'Settings', exact: true }).click()
    await page.getByTestId('current-settings').waitFor()
    assert.equal(await page.getByRole('button', { name: 'Save setting' }).count(), 0, 'settings are admin-only')
    assert.equal(await page.getByRole('button', { name: /^Roll back/ }).count(), 0)

    // Straight to the other venue's page: the API refuses, and the page says so in words with the request id.
    const refused = page.waitForResponse((response) => response.url().endsWith(`/api/v1/venues/${otherId}`))
    await page.goto(`${stack.gateway}/venues/${otherId}`)
    await signIn(page, 'Venue manager', false)
    const response = await refused
    assert.ok([403, 404].includes(response.status()), `the API refused (${response.status()})`)
    const requestId = response.headers()['x-request-id'] ?? ''
    assert.ok(requestId, 'the refusal carries a request id')
    const alert = page.getByRole('alert').first()
    await alert.waitFor()
    const text = await alert.innerText()
    assert.match(text, /You do not have permission to do this|That could not be found/)
    assert.ok(text.includes(`Request id to quote: ${requestId}`), `the request id is shown: ${text}`)
    assert.ok(!/VENUE_|problem\+json|"status"/.test(text), `no raw error codes or JSON: ${text}`)
    assert.equal(await page.getByRole('button', { name: 'Connect with API key' }).count(), 0, 'no write action on a venue it does not manage')
    await expectAccessible(page, "another venue's page as a manager")
    await shoot(page, 'manager-refused')
    await page.close()
  })

  scenario(
    'an operator pauses and resumes a queue, resets an open breaker, retries and discards dead letters, and the audit log shows each',
    async () => {
      // A real outage: every call of this Stripe account fails until the fault is lifted.
      const venue = await h.createVenue('Outage Hall')
      const { connectionId, accountId } = await h.connectStripe(venue)
      await stack.sim('stripe', 'POST', '/_sim/faults', { kind: 'server_error', account: accountId })
      const enqueued = await h.ok('POST', '/api/v1/integrations/sync/stripe/sync', { venueId: venue, entities: ['customer', 'product'], mode: 'full' }, [202])
      const jobs = enqueued.jobs as Json[]
      assert.equal(jobs.length, 2)
      const letters = await eventually(
        'both jobs dead-lettered',
        120_000,
        async () => {
          const open = ((await h.ok('GET', '/api/v1/integrations/admin/dead-letters?limit=200')).data as Json[]).filter((letter) => letter.payload.connectionId === connectionId)
          return open.length === 2 ? open : undefined
        },
        500,
      )
      const breaker = async () => ((await h.ok('GET', '/api/v1/integrations/admin/circuit-breakers')).breakers as Json[]).find((b) => b.connectionId === connectionId)
      assert.equal((await breaker())?.state, 'open', 'the outage opened the breaker')
      await stack.sim('stripe', 'DELETE', '/_sim/faults')

      const page = await context.newPage()
      await signIn(page, 'Operator')
      await page.getByRole('link', { name: 'Operations' }).click()
      await page
        .getByTestId('dead-letter')
        .filter({ hasText: connectionId.slice(0, 8) })
        .first()
        .waitFor()
      await page
        .getByTestId('breaker')
        .filter({ hasText: connectionId.slice(0, 8) })
        .getByText('open', { exact: true })
        .waitFor()
      await expectAccessible(page, 'operations with dead letters and an open breaker')
      await shoot(page, 'operations', true)

      // A link opens a tab that carries the session's cookies but never the token the console keeps
      // in memory: every link the page offers must open without it (no bearer-only page behind one).
      const links = await page.evaluate<string[]>("[...document.querySelectorAll('main a[href]')].map((a) => a.href)")
      for (const href of links) {
        const tab = await context.newPage()
        const opened = await tab.goto(href)
        assert.ok(opened && opened.status() < 400, `${href} opens for the operator: ${opened?.status() ?? 'no response'}`)
        await tab.close()
      }

      const queueState = async (name: string) => ((await h.ok('GET', '/api/v1/integrations/admin/queue-counts')).queues as Json[]).find((q) => q.queue === name)?.paused as boolean
      const lowRow = page.getByRole('row').filter({ hasText: 'integration-low' })
      await lowRow.getByRole('button', { name: 'Pause' }).click()
      await lowRow.getByRole('button', { name: 'Resume' }).waitFor()
      await lowRow.getByText('paused', { exact: true }).waitFor()
      assert.equal(await queueState('integration-low'), true, 'the queue is paused')
      await lowRow.getByRole('button', { name: 'Resume' }).click()
      await lowRow.getByRole('button', { name: 'Pause' }).waitFor()
      assert.equal(await queueState('integration-low'), false, 'the queue runs again')

      const breakerItem = page.getByTestId('breaker').filter({ hasText: connectionId.slice(0, 8) })
      await breakerItem.getByRole('button', { name: 'Reset' }).click()
      await eventually('the breaker closed', 20_000, async () => (((await breaker())?.state ?? 'closed') === 'closed' ? true : undefined), 250)
      await page
        .getByTestId('breaker')
        .filter({ hasText: connectionId.slice(0, 8) })
        .getByText('open', { exact: true })
        .waitFor({ state: 'detached' })

      const customerLetter = letters.find((letter) => letter.payload.entity === 'customer') as Json
      const productLetter = letters.find((letter) => letter.payload.entity === 'product') as Json
      await page
        .getByTestId('dead-letter')
        .filter({ hasText: `customer of ${connectionId.slice(0, 8)}` })
        .getByRole('button', { name: 'Retry' })
        .click()
      await page
        .getByTestId('dead-letter')
        .filter({ hasText: `customer of ${connectionId.slice(0, 8)}` })
        .getByRole('button', { name: 'Retry' })
        .waitFor({ state: 'detached' })
      // The retried job runs again against the recovered provider, under its original sync log.
      const retried = await eventually(
        'the retried sync succeeded',
        120_000,
        async () => {
          const log = await h.syncLog(connectionId, customerLetter.payload.syncLogId as string)
          return log?.status === 'succeeded' ? log : undefined
        },
        500,
      )
      assert.ok((retried.counts.created as number) > 0, JSON.stringify(retried))

      await page
        .getByTestId('dead-letter')
        .filter({ hasText: `product of ${connectionId.slice(0, 8)}` })
        .getByRole('button', { name: 'Discard' })
        .click()
      await page
        .getByTestId('dead-letter')
        .filter({ hasText: `product of ${connectionId.slice(0, 8)}` })
        .getByRole('button', { name: 'Discard' })
        .waitFor({ state: 'detached' })
      const stillOpen = ((await h.ok('GET', '/api/v1/integrations/admin/dead-letters?limit=200')).data as Json[]).map((letter) => letter.id)
      assert.ok(!stillOpen.includes(customerLetter.id) && !stillOpen.includes(productLetter.id), 'neither letter is open any more')

      await page.getByRole('link', { name: 'Audit', exact: true }).click()
      const wanted = ['sync.queue_paused', 'sync.queue_resumed', 'sync.breaker_reset', 'sync.dead_letter_retried', 'sync.dead_letter_discarded']
      await eventually(
        'every operator action in the audit log',
        30_000,
        async () => {
          await page.getByRole('button', { name: 'Filter' }).click()
          await page.getByTestId('audit-entry').first().waitFor()
          const text = await page.locator('tbody').innerText()
          return wanted.every((action) => text.includes(action)) ? true : undefined
        },
        500,
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\nshown: ${await page.locator('tbody').innerText()}`)
      })
      const trail = (await h.ok('GET', '/api/v1/compliance/audit-log?limit=500')).data as Json[]
      for (const action of wanted)
        assert.ok(
          trail.some((entry) => entry.action === action && entry.actorId === 'demo-operator'),
          `${action} by the operator in the audit log`,
        )
      await page.close()
    },
    { timeout: 300_000 },
  )

  scenario('no page needed an inline script or style the CSP would block', async () => {
    assert.deepEqual(cspViolations, [])
  })
})
