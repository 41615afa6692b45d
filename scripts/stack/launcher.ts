// Starts the hub's processes (provider simulators, the three services, the worker and the gateway)
// as child processes, waits for each to be ready, and stops, kills or restarts them. `npm start`
// (scripts/dev-stack.ts) and the system tests (e2e/) both start the stack through this module, so
// the tests exercise the same wiring users run.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync, existsSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const ROOT = join(import.meta.dirname, '..', '..')

export type ProcessName = 'simulators' | 'venue-service' | 'integration-service' | 'integration-worker' | 'compliance-service' | 'api-gateway'

export interface StackPorts {
  gateway: number
  venue: number
  integration: number
  compliance: number
  worker: number
}

export interface SimulatorPorts {
  stripe: number
  square: number
  mailchimp: number
  quickbooks: number
}

export const DEFAULT_PORTS: StackPorts = { gateway: 3000, venue: 3002, integration: 3009, compliance: 3010, worker: 3019 }
export const DEFAULT_SIMULATOR_PORTS: SimulatorPorts = { stripe: 12111, square: 12112, mailchimp: 12113, quickbooks: 12114 }

/** OAuth apps as the simulators know them; real ones come from the environment. */
export const SIMULATOR_OAUTH_APPS = {
  STRIPE_CONNECT_CLIENT_ID: 'ca_devhubplatform0000000000000',
  STRIPE_PLATFORM_SECRET_KEY: 'sk_test_devhubplatform000000000000',
  SQUARE_CLIENT_ID: 'sq0idp-devhub0000000000000000',
  SQUARE_CLIENT_SECRET: 'sq0csp-devhubsecret0000000000',
  MAILCHIMP_CLIENT_ID: '100000000001',
  MAILCHIMP_CLIENT_SECRET: 'devhub-mailchimp-client-secret',
  QUICKBOOKS_CLIENT_ID: 'ABdevhubquickbooksclient00',
  QUICKBOOKS_CLIENT_SECRET: 'devhub-quickbooks-client-secret',
  QUICKBOOKS_WEBHOOK_VERIFIER: 'devhub-quickbooks-verifier',
} as const

export interface StackConfig {
  ports: StackPorts
  /** Simulator ports, or undefined to reach the real providers (PROVIDER_MODE=live). */
  simulators?: SimulatorPorts
  /** Postgres URL connecting as a service's own role (`hub_venue`, …). */
  databaseUrlFor: (role: string) => string
  /** Variables every process gets (secrets, Redis, log level…); each spec adds its own on top. */
  env: Record<string, string | undefined>
  /** Tenants whose admins operate the hub (global queue controls, tenantless security events). */
  operatorTenantIds?: string
}

export interface ProcessSpec {
  name: ProcessName
  /** Entry point relative to the repository root, as TypeScript source (see serviceCommand). */
  script: string
  env: Record<string, string>
  readyUrl?: string
  /** Any HTTP answer means up (the simulators answer 401 without credentials). */
  anyStatus?: boolean
  /** Flags for this process's `node`, as its deployment sets them (NODE_OPTIONS in infra/). */
  nodeArgs?: readonly string[]
}

/**
 * The worker's V8 heap, sized as in its deployment (NODE_OPTIONS in infra/k8s and
 * docker-compose.yml, checked by infra/test). Without a limit V8 lets the heap of a long sync grow
 * to 400+ MB while under 100 MB of it is live; with 256 MB it collects sooner and the worker stays
 * under 300 MB resident at no cost in throughput (README, Benchmarks, sync).
 */
export const WORKER_NODE_ARGS: readonly string[] = ['--max-old-space-size=256']

const local = (port: number) => `http://127.0.0.1:${port}`

/** What each process runs with: its entry point, its own variables, and how to tell it is ready. */
export function buildProcessSpecs(config: StackConfig): ProcessSpec[] {
  const { ports, simulators: sims, env } = config
  const urls = {
    VENUE_SERVICE_URL: local(ports.venue),
    INTEGRATION_SERVICE_URL: local(ports.integration),
    COMPLIANCE_SERVICE_URL: local(ports.compliance),
  }
  const providerBases: Record<string, string> = sims
    ? {
        STRIPE_API_BASE: local(sims.stripe),
        SQUARE_API_BASE: local(sims.square),
        MAILCHIMP_API_BASE: local(sims.mailchimp),
        QUICKBOOKS_API_BASE: local(sims.quickbooks),
        ...Object.fromEntries(Object.entries(SIMULATOR_OAUTH_APPS).map(([name, value]) => [name, env[name] ?? value])),
      }
    : {}
  const publicUrl = local(ports.gateway)
  return [
    ...(sims ? [{ name: 'simulators' as const, script: 'packages/provider-simulators/src/cli.ts', env: { SIM_PORTS: JSON.stringify(sims) }, readyUrl: `${local(sims.quickbooks)}/`, anyStatus: true }] : []),
    { name: 'venue-service', script: 'services/venue-service/src/server.ts', env: { ...urls, DATABASE_URL: config.databaseUrlFor('hub_venue'), VENUE_SERVICE_PORT: String(ports.venue) }, readyUrl: `${urls.VENUE_SERVICE_URL}/ready` },
    {
      name: 'integration-service',
      script: 'services/integration-service/src/server.ts',
      env: {
        ...urls,
        ...providerBases,
        PUBLIC_URL: publicUrl,
        OAUTH_RETURN_URL: `${publicUrl}/oauth-complete`,
        OPERATOR_TENANT_IDS: config.operatorTenantIds ?? '',
        DATABASE_URL: config.databaseUrlFor('hub_integration'),
        INTEGRATION_SERVICE_PORT: String(ports.integration),
      },
      readyUrl: `${urls.INTEGRATION_SERVICE_URL}/ready`,
    },
    {
      name: 'integration-worker',
      script: 'services/integration-service/src/worker.ts',
      env: { ...urls, ...providerBases, PUBLIC_URL: publicUrl, DATABASE_URL: config.databaseUrlFor('hub_integration'), INTEGRATION_WORKER_PORT: String(ports.worker) },
      readyUrl: `${local(ports.worker)}/ready`,
      nodeArgs: WORKER_NODE_ARGS,
    },
    {
      name: 'compliance-service',
      script: 'services/compliance-service/src/server.ts',
      env: { ...urls, OPERATOR_TENANT_IDS: config.operatorTenantIds ?? '', DATABASE_URL: config.databaseUrlFor('hub_compliance'), COMPLIANCE_SERVICE_PORT: String(ports.compliance) },
      readyUrl: `${urls.COMPLIANCE_SERVICE_URL}/ready`,
    },
    { name: 'api-gateway', script: 'services/api-gateway/src/server.ts', env: { ...urls, OPERATOR_TENANT_IDS: config.operatorTenantIds ?? '', API_GATEWAY_PORT: String(ports.gateway) }, readyUrl: `${publicUrl}/health` },
  ]
}

/**
 * How a process is run: TypeScript through tsx (the default), or compiled output (`dist`, mirroring
 * `src`) once a build exists. `HUB_RUNTIME=dist` switches every process, so the system tests can run
 * against what is deployed. This is the one place that knows how a service is launched.
 */
export type Runtime = 'tsx' | 'dist'

export function runtimeFromEnv(env: Record<string, string | undefined> = process.env): Runtime {
  return env.HUB_RUNTIME === 'dist' ? 'dist' : 'tsx'
}

export function serviceCommand(script: string, runtime: Runtime = runtimeFromEnv(), preload: string[] = [], nodeArgs: readonly string[] = []): { command: string; args: string[] } {
  const imports = preload.flatMap((url) => ['--import', url])
  if (runtime === 'dist') {
    const compiled = script.replace(/\/src\//, '/dist/').replace(/\.ts$/, '.js')
    return { command: process.execPath, args: [...nodeArgs, ...imports, join(ROOT, compiled)] }
  }
  // Resolved here rather than by name, so a child started in another working directory finds it.
  return { command: process.execPath, args: [...nodeArgs, '--import', import.meta.resolve('tsx'), ...imports, join(ROOT, script)] }
}

/** Where each child's output goes: prefixed lines on the console, or one file per process. */
export type OutputMode = { kind: 'console' } | { kind: 'files'; dir: string }

export interface LaunchOptions {
  output: OutputMode
  /** Working directory of the children; a service loads `.env` from it. */
  cwd?: string
  runtime?: Runtime
  /** Children end when the launching process dies, even by SIGKILL (tests). */
  exitWithParent?: boolean
  /** A process ended that nobody asked to stop. */
  onUnexpectedExit?: (name: ProcessName, code: number | null, signal: NodeJS.Signals | null) => void
  readyTimeoutMs?: number
}

const COLORS = [35, 32, 33, 34, 36, 31]
const EXIT_WITH_PARENT = new URL('./exit-with-parent.mjs', import.meta.url).href

function prefixLines(name: string, color: number, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream): void {
  let buffered = ''
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) out.write(`\x1b[${color}m${name.padEnd(20)}\x1b[0m ${line}\n`)
  })
}

export class StackError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StackError'
  }
}

/** A running set of processes; every child is tracked so none outlives the stack. */
export class Stack {
  readonly specs: ProcessSpec[]
  private readonly options: LaunchOptions
  private readonly env: Record<string, string | undefined>
  private readonly children = new Map<ProcessName, ChildProcess>()
  private readonly expectedExit = new Set<ChildProcess>()
  private readonly logs = new Map<ProcessName, WriteStream>()
  private stopping = false

  /** `env` is what every process gets; each spec's own variables go on top. */
  constructor(specs: ProcessSpec[], env: Record<string, string | undefined>, options: LaunchOptions) {
    this.specs = specs
    // tsx looks for tsconfig.json from the working directory, which may be elsewhere (tests).
    this.env = { TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json'), ...env }
    this.options = options
    if (options.output.kind === 'files') mkdirSync(options.output.dir, { recursive: true })
  }

  private spec(name: ProcessName): ProcessSpec {
    const spec = this.specs.find((candidate) => candidate.name === name)
    if (!spec) throw new StackError(`no process named ${name} in this stack`)
    return spec
  }

  logFile(name: ProcessName): string | undefined {
    return this.options.output.kind === 'files' ? join(this.options.output.dir, `${name}.log`) : undefined
  }

  /** Every process's log (files mode), or its last `tailLines` lines, for printing when a test fails. */
  readLogs(tailLines = Number.POSITIVE_INFINITY): string {
    return this.specs
      .map((spec) => {
        const file = this.logFile(spec.name)
        if (!file || !existsSync(file)) return ''
        const lines = readFileSync(file, 'utf8').split('\n')
        const shown = lines.length > tailLines ? [`… ${lines.length - tailLines} earlier lines`, ...lines.slice(-tailLines)] : lines
        return `──── ${spec.name} (${file})\n${shown.join('\n')}`
      })
      .filter(Boolean)
      .join('\n')
  }

  isRunning(name: ProcessName): boolean {
    return this.children.has(name)
  }

  pid(name: ProcessName): number | undefined {
    return this.children.get(name)?.pid
  }

  /** Spawns one process (not waiting for it to be ready). */
  spawn(name: ProcessName): void {
    if (this.children.has(name)) throw new StackError(`${name} is already running`)
    const spec = this.spec(name)
    const { command, args } = serviceCommand(spec.script, this.options.runtime, this.options.exitWithParent ? [EXIT_WITH_PARENT] : [], spec.nodeArgs)
    const child = spawn(command, args, {
      cwd: this.options.cwd ?? ROOT,
      env: { ...this.env, ...spec.env },
      stdio: [this.options.exitWithParent ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    })
    const output = this.options.output
    if (output.kind === 'files') {
      let log = this.logs.get(name)
      if (!log) {
        log = createWriteStream(join(output.dir, `${name}.log`), { flags: 'a' })
        this.logs.set(name, log)
      }
      log.write(`──── started pid ${child.pid ?? '?'} at ${new Date().toISOString()}\n`)
      child.stdout?.pipe(log, { end: false })
      child.stderr?.pipe(log, { end: false })
    } else {
      const color = COLORS[this.specs.indexOf(spec) % COLORS.length] ?? 37
      if (child.stdout) prefixLines(name, color, child.stdout, process.stdout)
      if (child.stderr) prefixLines(name, color, child.stderr, process.stderr)
    }
    child.on('exit', (code, signal) => {
      if (this.children.get(name) === child) this.children.delete(name)
      this.logs.get(name)?.write(`──── exited (${code ?? signal}) at ${new Date().toISOString()}\n`)
      if (!this.expectedExit.delete(child) && !this.stopping) this.options.onUnexpectedExit?.(name, code, signal)
    })
    this.children.set(name, child)
  }

  /** Polls the process's readiness URL until it answers (2xx, or anything for `anyStatus`). */
  async waitReady(name: ProcessName, timeoutMs = this.options.readyTimeoutMs ?? 90_000): Promise<void> {
    const spec = this.spec(name)
    if (!spec.readyUrl) return
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (!this.children.has(name)) throw new StackError(`${name} exited before it was ready${this.logFile(name) ? ` (log: ${this.logFile(name)})` : ''}`)
      try {
        const response = await fetch(spec.readyUrl, { signal: AbortSignal.timeout(2_000) })
        await response.body?.cancel()
        if (response.ok || spec.anyStatus) return
      } catch {
        // not listening yet
      }
      await sleep(100)
    }
    throw new StackError(`${name} did not become ready at ${spec.readyUrl} within ${timeoutMs} ms`)
  }

  /** Starts every process and waits until all are ready. */
  async start(): Promise<void> {
    for (const spec of this.specs) this.spawn(spec.name)
    await Promise.all(this.specs.map((spec) => this.waitReady(spec.name)))
  }

  /** Sends a signal (SIGKILL unless told) and waits for the process to be gone. */
  async kill(name: ProcessName, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15_000): Promise<void> {
    const child = this.children.get(name)
    if (!child) return
    this.expectedExit.add(child)
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    const timer = sleep(timeoutMs).then(() => 'timeout' as const)
    if ((await Promise.race([exited, timer])) === 'timeout') {
      child.kill('SIGKILL')
      await exited
    }
  }

  /** Starts a stopped (or killed) process again and waits until it is ready. */
  async restart(name: ProcessName): Promise<void> {
    if (this.children.has(name)) await this.kill(name, 'SIGTERM')
    this.spawn(name)
    await this.waitReady(name)
  }

  /** SIGTERM to all, SIGKILL to whoever is still there after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true
    await Promise.all([...this.children.keys()].map((name) => this.kill(name, 'SIGTERM', graceMs)))
    await Promise.all([...this.logs.values()].map((log) => new Promise<void>((resolve) => log.end(() => resolve()))))
    this.logs.clear()
  }

  /** Synchronous last resort from a process `exit` handler: nothing may outlive the launcher. */
  killAllNow(): void {
    this.stopping = true
    for (const child of this.children.values()) child.kill('SIGKILL')
  }
}

/** Starts a stack: spawns every process and waits for all to be ready (stopping them if not). */
export async function launchStack(config: StackConfig, options: LaunchOptions): Promise<Stack> {
  const stack = new Stack(buildProcessSpecs(config), config.env, options)
  try {
    await stack.start()
  } catch (error) {
    await stack.stop(5_000)
    throw error
  }
  return stack
}
