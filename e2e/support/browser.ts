// Real Chromium for the console's browser tests: Debian's `chromium` driven by playwright-core
// (no bundled browser download). A missing Chromium fails the tests with how to install it; it is
// never a silent skip.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { ROOT } from '../../scripts/stack/launcher.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CONSOLE_DIR = join(ROOT, 'apps', 'console')
export const CONSOLE_DIST = join(CONSOLE_DIR, 'dist')
export const SCREENSHOTS = join(ROOT, 'docs', 'screenshots')

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: the console's browser tests need it. Install it with \`apt-get install -y chromium\` (.ci/run does this), or point CHROMIUM_PATH at a Chromium binary.`)
  }
}

/** Builds the console the way `npm start` does, so the gateway of the test stack serves it. */
export function buildConsole(): void {
  const vite = join(CONSOLE_DIR, 'node_modules', 'vite', 'bin', 'vite.js')
  const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: CONSOLE_DIR, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`building the console failed (exit ${result.status ?? result.signal})`)
}

/** A fresh browser profile per run, removed afterwards. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  requireChromium()
  const profile = mkdtempSync(join(tmpdir(), 'console-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1100, height: 760 },
  })
  context.setDefaultTimeout(20_000)
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: { target: unknown[] }[]
}

/**
 * axe-core's serious and critical violations on the page as it is now. The script is evaluated
 * through the DevTools protocol, so the page's CSP (which forbids inline scripts) stays in force.
 */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource)
  // A string, evaluated in the page: this file is type-checked for Node, without the DOM's types.
  const violations = await page.evaluate<AxeViolation[]>(
    `axe.run(document, { resultTypes: ['violations'] }).then((result) => result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`,
  )
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}

/** The JavaScript a first visit downloads (the entry and what index.html preloads), gzip-compressed. */
export function firstLoadJsBytes(): { files: string[]; gzipBytes: number } {
  const index = readFileSync(join(CONSOLE_DIST, 'index.html'), 'utf8')
  const files = [...index.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1] as string)
  const gzipBytes = files.reduce((sum, file) => sum + gzipSync(readFileSync(join(CONSOLE_DIST, file))).length, 0)
  return { files, gzipBytes }
}
