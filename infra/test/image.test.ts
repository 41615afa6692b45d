// The image the Dockerfile describes: a supported Node LTS pinned by digest, compiled JavaScript
// with production dependencies only, a numeric non-root user matching the pods', and a build
// context that keeps out what .gitignore does plus tests, benches and deployment files.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { render, type K8sObject } from './kustomize.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')

test('the base image is Node 22 or 24 LTS, pinned by digest', () => {
  const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1] ?? ''
  assert.match(base, /^node:(22|24)-[a-z-]+@sha256:[0-9a-f]{64}$/, `base image ${base}`)
  for (const from of dockerfile.match(/^FROM .*$/gm) ?? []) assert.match(from, /^FROM (\$\{NODE_IMAGE\}|base) AS [a-z-]+$/, `${from} does not use the pinned base`)
})

test('the runtime stage runs compiled JavaScript with production dependencies, as a numeric user the pods also use', () => {
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '))
  assert.doesNotMatch(runtime, /tsx|typescript/, 'the runtime stage mentions tsx or TypeScript')
  assert.match(dockerfile, /pnpm install --frozen-lockfile --prod/)
  assert.match(dockerfile, /scripts\/build\.mjs/)
  const cmd = /^CMD \[(.*)\]$/m.exec(runtime)?.[1] ?? ''
  assert.match(cmd, /^"node", "[^"]+\.js"$/, `CMD ${cmd}`)
  const [uid, gid] = (/^USER (\d+):(\d+)$/m.exec(runtime) ?? []).slice(1).map(Number)
  assert.ok(uid && uid > 0 && gid && gid > 0, 'USER must be numeric uid:gid, not root')
  const deployments = render(join(ROOT, 'infra', 'k8s', 'overlays', 'production')).filter((o: K8sObject) => o.kind === 'Deployment') as Array<
    K8sObject & { spec: { template: { spec: { securityContext?: { runAsUser?: number; runAsGroup?: number } } } } }
  >
  for (const deployment of deployments) {
    assert.equal(deployment.spec.template.spec.securityContext?.runAsUser, uid, `${deployment.metadata.name} runs as another user than the image`)
    assert.equal(deployment.spec.template.spec.securityContext?.runAsGroup, gid)
  }
})

test('.dockerignore mirrors .gitignore and keeps tests, benches and infra out', () => {
  const entries = (file: string) =>
    readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.replace(/\/$/, ''))
  const ignored = new Set(entries('.dockerignore'))
  for (const entry of entries('.gitignore')) assert.ok(ignored.has(entry) || ignored.has(entry.replace(/^\*\*\//, '')), `.dockerignore lacks .gitignore's ${entry}`)
  for (const entry of ['**/test', '**/*.test.ts', 'bench', 'infra', 'e2e', '.git', '.env']) assert.ok(ignored.has(entry), `.dockerignore lacks ${entry}`)
})
