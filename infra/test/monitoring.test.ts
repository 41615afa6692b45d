// Monitoring that pages: the Prometheus configs and rules pass promtool from the repository, the
// alert rules pass their unit tests, Alertmanager's config passes amtool, and every metric an alert
// reads is one the code exports. promtool and amtool come from Debian (scripts/test.mjs installs them).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'

const ROOT = join(import.meta.dirname, '..', '..')

function run(command: string, args: string[], cwd = ROOT): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' })
  if (result.error) assert.fail(`${command} could not run (${result.error.message}); npm test installs it: apt-get install prometheus prometheus-alertmanager`)
  assert.equal(result.status, 0, `${command} ${args.join(' ')}:\n${result.stdout}${result.stderr}`)
  return result.stdout + result.stderr
}

test('promtool accepts the Compose Prometheus config and its rule files, from the repository', () => {
  const out = run('promtool', ['check', 'config', 'infra/prometheus/prometheus.yml'])
  assert.match(out, /SUCCESS: 1 rule files found/)
  run('promtool', ['check', 'rules', 'infra/prometheus/alerts.yml'])
})

test('the alert rules pass their promtool unit tests', () => {
  const files = readdirSync(join(ROOT, 'infra/prometheus/tests')).filter((file) => file.endsWith('.test.yml'))
  assert.ok(files.length >= 2, `only ${files.join(', ')}`)
  assert.match(run('promtool', ['test', 'rules', ...files.map((file) => `infra/prometheus/tests/${file}`)]), /SUCCESS/)
})

test('the in-cluster Prometheus config scrapes pods by annotation and passes promtool', () => {
  const config = parse(readFileSync(join(ROOT, 'infra/prometheus/prometheus-kubernetes.yml'), 'utf8')) as {
    rule_files: string[]
    scrape_configs: Array<{ kubernetes_sd_configs?: Array<{ role: string }>; static_configs?: unknown; relabel_configs?: Array<{ source_labels?: string[]; action?: string }> }>
  }
  const job = config.scrape_configs[0]
  assert.equal(job?.kubernetes_sd_configs?.[0]?.role, 'pod', 'scrape pods, not Service VIPs')
  assert.ok(job?.relabel_configs?.some((r) => r.action === 'keep' && r.source_labels?.includes('__meta_kubernetes_pod_annotation_prometheus_io_scrape')))
  // Debian's promtool is built without Kubernetes discovery; everything else (relabel regexes,
  // rule files, alerting) is checked with the discovery swapped for a static target.
  const dir = mkdtempSync(join(tmpdir(), 'hub-prom-'))
  try {
    cpSync(join(ROOT, 'infra/prometheus/alerts.yml'), join(dir, 'alerts.yml'))
    const { kubernetes_sd_configs: _sd, ...rest } = job
    writeFileSync(join(dir, 'prometheus.yml'), stringify({ ...config, scrape_configs: [{ ...rest, static_configs: [{ targets: ['pod:3000'] }] }] }))
    assert.match(run('promtool', ['check', 'config', 'prometheus.yml'], dir), /SUCCESS/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('Alertmanager is wired: Prometheus sends to it and amtool accepts its config', () => {
  const prometheus = parse(readFileSync(join(ROOT, 'infra/prometheus/prometheus.yml'), 'utf8')) as { alerting?: { alertmanagers?: Array<{ static_configs: Array<{ targets: string[] }> }> } }
  assert.deepEqual(prometheus.alerting?.alertmanagers?.[0]?.static_configs[0]?.targets, ['alertmanager:9093'])
  run('amtool', ['check-config', 'infra/alertmanager/alertmanager.yml'])
})

function sourceText(dir: string): string {
  let text = ''
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'test' || entry === 'dist') continue
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) text += sourceText(path)
    else if (entry.endsWith('.ts')) text += readFileSync(path, 'utf8')
  }
  return text
}

test('every metric an alert reads is exported by the code', () => {
  const rules = parse(readFileSync(join(ROOT, 'infra/prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }
  const code = sourceText(join(ROOT, 'services')) + sourceText(join(ROOT, 'packages'))
  // Names built from a template, e.g. `${opts.kind}_relay_failures_total` with kind 'audit'.
  const templated = [...code.matchAll(/\$\{[^}]+\}(_[a-z0-9_]+)`/g)].map(([, suffix]) => suffix ?? '')
  const exported = (metric: string) => code.includes(`'${metric}'`) || templated.some((suffix) => metric.endsWith(suffix) && code.includes(`'${metric.slice(0, -suffix.length)}'`))
  const functions = new Set(['sum', 'max', 'min', 'rate', 'increase', 'absent', 'histogram_quantile', 'by', 'and', 'or', 'unless', 'on'])
  for (const rule of rules.groups.flatMap((group) => group.rules)) {
    const metrics = [...rule.expr.replace(/\{[^}]*\}|\[[^\]]*\]|"[^"]*"/g, ' ').matchAll(/[a-z_][a-z0-9_]*/g)].map(([name]) => name).filter((name) => !functions.has(name) && !/^(le|service|queue|provider)$/.test(name))
    for (const metric of metrics) {
      if (metric === 'up') continue
      // Histograms export <name>_count and <name>_bucket from one registration.
      const base = metric.replace(/_(count|bucket|sum)$/, '')
      assert.ok(exported(metric) || exported(base), `${rule.alert} reads ${metric}, which no service exports`)
    }
  }
})
