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
import { apiClient } from './support/hub.ts'
import { eventually, scenario, startStack, type E2EStack } from './support/stack.ts'
import { SCREENSHOTS, buildConsole, firstLoadJsBytes, launchBrowser, requireChromium, seriousA11yViolations } from './support/browser.ts'

const FIRST_LOAD_BUDGET = 200 * 1024
const STRIPE_KEY = 'sk_test_console00000000000000001'

requireChromium()
buildConsole()
const stack: E2EStack = await startStack({ env: { AUDIT_RELAY_INTERVAL_MS: '200' } })
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
  assert.deepEqual(violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`), [], `axe on ${name}`)
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), scale: 'css' })
}

async function signIn(page: Page, persona: 'Demo admin' | 'Venue manager' | 'Viewer' | 'Operator'): Promise<void> {
  await page.goto(`${stack.gateway}/`)
  await page.waitForURL('**/sign-in')
  await page.getByRole('button', { name: persona, exact: true }).click()
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
    await shoot(page, 'operations')
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
      assert.deepEqual(buttons.filter((label) => writeActions.test(label.trim())), [], `write actions on ${tab}`)
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
    await eventually('the refusal among the security events', 20_000, async () => {
      await page.getByRole('button', { name: 'Refresh' }).click()
      return (await refusal.count()) > 0 ? true : undefined
    }, 500)
    await refusal.getByRole('button', { name: 'Resolve' }).click()
    await page.getByTestId('security-event').filter({ hasText: 'FORBIDDEN' }).first().getByText(/^resolved/).waitFor()
    await expectAccessible(page, 'security events')
    await shoot(page, 'security-events')
    await page.close()
  })

  scenario('no page needed an inline script or style the CSP would block', async () => {
    assert.deepEqual(cspViolations, [])
  })
})
