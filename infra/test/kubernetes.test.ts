// Every overlay of infra/k8s renders (infra/test/kustomize.ts), every object passes the Kubernetes
// schema in strict mode (types, required fields and enums from kubernetes-models; unknown fields
// refused by TypeScript's excess-property check against the same models), every pod passes the Pod
// Security "restricted" rules, and the rollout, least-privilege and capacity rules of the deploy
// guide hold. Each service's config loads from what its pods receive.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { render, type K8sObject } from './kustomize.ts'
import { WORKER_NODE_ARGS } from '../../scripts/stack/launcher.ts'
import { loadConfig as loadGatewayConfig } from '../../services/api-gateway/src/config.ts'
import { loadConfig as loadVenueConfig } from '../../services/venue-service/src/config.ts'
import { loadConfig as loadIntegrationConfig } from '../../services/integration-service/src/config.ts'
import { loadConfig as loadComplianceConfig } from '../../services/compliance-service/src/config.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const K8S = join(ROOT, 'infra', 'k8s')
const OVERLAYS = ['dev', 'production'] as const
const rendered = Object.fromEntries(OVERLAYS.map((overlay) => [overlay, render(join(K8S, 'overlays', overlay))])) as Record<(typeof OVERLAYS)[number], K8sObject[]>
const migrations = Object.fromEntries(OVERLAYS.map((overlay) => [overlay, render(join(K8S, 'overlays', overlay, 'migrate'))])) as Record<(typeof OVERLAYS)[number], K8sObject[]>
const everything = (): Array<[string, K8sObject]> => OVERLAYS.flatMap((overlay) => [...rendered[overlay], ...migrations[overlay]].map((object) => [overlay, object] as [string, K8sObject]))

// ---- shapes of what we read (the objects are validated against the real schema below) ----------
interface Probe {
  httpGet?: { path: string; port: number | string }
  tcpSocket?: unknown
  timeoutSeconds?: number
  periodSeconds?: number
  failureThreshold?: number
}
interface Container {
  name: string
  image: string
  command?: string[]
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>
  startupProbe?: Probe
  livenessProbe?: Probe
  readinessProbe?: Probe
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } }
  securityContext?: {
    allowPrivilegeEscalation?: boolean
    readOnlyRootFilesystem?: boolean
    privileged?: boolean
    runAsNonRoot?: boolean
    runAsUser?: number
    capabilities?: { drop?: string[]; add?: string[] }
    seccompProfile?: { type: string }
  }
  volumeMounts?: Array<{ name: string; mountPath: string }>
  ports?: Array<{ containerPort: number; hostPort?: number }>
}
interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  hostNetwork?: boolean
  hostPID?: boolean
  hostIPC?: boolean
  automountServiceAccountToken?: boolean
  terminationGracePeriodSeconds?: number
  topologySpreadConstraints?: unknown[]
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; seccompProfile?: { type: string } }
  volumes?: Array<Record<string, unknown> & { name: string }>
}
type Workload = K8sObject & { spec: { replicas?: number; template: { spec: PodSpec } } }

const podSpecOf = (object: K8sObject): PodSpec | undefined => (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(object.kind) ? (object as Workload).spec.template.spec : undefined)

// ---- schema ---------------------------------------------------------------------------------------
function modelModule(object: K8sObject): { module: string; type: string } {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion]
  if (group === 'keda.sh') return { module: `@kubernetes-models/keda/keda.sh/${version}/${object.kind}`, type: `I${object.kind}` }
  return { module: group ? `kubernetes-models/${group}/${version}/${object.kind}` : `kubernetes-models/${version}/${object.kind}`, type: `I${object.kind}` }
}

async function validateSchema(object: K8sObject): Promise<void> {
  const { module } = modelModule(object)
  const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>
  const Model = models[object.kind]
  assert.ok(Model, `${module} has no ${object.kind}`)
  new Model(object).validate()
}

/** Unknown fields: each object as a literal typed with the model's interface; tsc reports any excess property. */
function strictFieldErrors(objects: K8sObject[]): string[] {
  const dir = join(ROOT, 'node_modules', '.cache', 'hub-k8s-strict')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'manifests.ts')
  const lines = objects.map((object, index) => {
    const { module, type } = modelModule(object)
    return `// ${object.kind}/${object.metadata.name}\nexport const o${index}: import('${module}').${type} = ${JSON.stringify(object, null, 1)}`
  })
  writeFileSync(file, `${lines.join('\n')}\n`)
  const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [] })
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const where = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1
    const source = readFileSync(file, 'utf8').split('\n')
    const owner = source
      .slice(0, where + 1)
      .reverse()
      .find((line) => line.startsWith('// '))
    return `${owner?.slice(3) ?? '?'}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`
  })
}

test('every rendered object passes the Kubernetes schema (types, required fields, enums)', async () => {
  for (const [overlay, object] of everything()) {
    await assert.doesNotReject(
      () => validateSchema(object),
      (error: Error) => `${overlay} ${object.kind}/${object.metadata.name}: ${error.message}`,
    )
  }
})

test('every rendered object passes strict mode: no field the schema does not know', () => {
  const objects = everything().map(([, object]) => object)
  const misspelt = { ...objects.find((object) => object.kind === 'Deployment'), spec: { ...(objects.find((object) => object.kind === 'Deployment')?.spec as object), replica: 2 } } as K8sObject
  const errors = strictFieldErrors([...objects, misspelt])
  // The check itself works: the one planted unknown field is reported, and nothing else.
  assert.equal(errors.length, 1, errors.join('\n'))
  assert.match(errors[0] ?? '', /'"replica"' does not exist/)
})

// ---- Pod Security "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/) --
const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'])

export function restrictedViolations(pod: PodSpec): string[] {
  const problems: string[] = []
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push('host namespaces')
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((key) => key !== 'name')
    if (!type || !RESTRICTED_VOLUME_TYPES.has(type)) problems.push(`volume ${volume.name} of type ${type}`)
  }
  const podContext = pod.securityContext ?? {}
  if (podContext.runAsUser === 0) problems.push('pod runAsUser 0')
  if (podContext.seccompProfile && !['RuntimeDefault', 'Localhost'].includes(podContext.seccompProfile.type)) problems.push('pod seccomp profile')
  for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
    const context = container.securityContext ?? {}
    const name = `container ${container.name}`
    if (context.privileged) problems.push(`${name}: privileged`)
    if (context.allowPrivilegeEscalation !== false) problems.push(`${name}: allowPrivilegeEscalation must be false`)
    if (!(context.runAsNonRoot ?? podContext.runAsNonRoot)) problems.push(`${name}: runAsNonRoot must be true`)
    if (context.runAsUser === 0) problems.push(`${name}: runAsUser 0`)
    const seccomp = context.seccompProfile ?? podContext.seccompProfile
    if (!seccomp || !['RuntimeDefault', 'Localhost'].includes(seccomp.type)) problems.push(`${name}: seccompProfile RuntimeDefault or Localhost required`)
    if (!context.capabilities?.drop?.includes('ALL')) problems.push(`${name}: must drop ALL capabilities`)
    for (const added of context.capabilities?.add ?? []) if (added !== 'NET_BIND_SERVICE') problems.push(`${name}: adds ${added}`)
    for (const port of container.ports ?? []) if (port.hostPort) problems.push(`${name}: hostPort`)
  }
  return problems
}

test('every pod and the migration Job pass Pod Security "restricted", and the namespace enforces it', () => {
  let pods = 0
  for (const [overlay, object] of everything()) {
    const pod = podSpecOf(object)
    if (!pod) continue
    pods++
    const where = `${overlay} ${object.kind}/${object.metadata.name}`
    assert.deepEqual(restrictedViolations(pod), [], where)
    // Beyond the standard: the hardening the deploy guide promises.
    assert.equal(pod.automountServiceAccountToken, false, `${where}: mounts a service-account token`)
    assert.ok(
      Number.isInteger(pod.securityContext?.runAsUser) && (pod.securityContext?.runAsUser ?? 0) > 0 && Number.isInteger(pod.securityContext?.runAsGroup),
      `${where}: numeric runAsUser/runAsGroup needed (the kubelet cannot verify a user name)`,
    )
    for (const container of pod.containers) {
      assert.equal(container.securityContext?.readOnlyRootFilesystem, true, `${where}: root filesystem is writable`)
    }
  }
  assert.ok(pods >= 10, `only ${pods} pods rendered`)
  // The rules reject what they should.
  assert.ok(
    restrictedViolations({ containers: [{ name: 'x', image: 'x', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }], securityContext: { runAsNonRoot: true } }).some((p) => p.includes('seccomp')),
  )
  for (const overlay of OVERLAYS) {
    const namespace = rendered[overlay].find((object) => object.kind === 'Namespace')
    assert.equal(namespace?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted', `${overlay}: namespace does not enforce restricted`)
    for (const object of [...rendered[overlay], ...migrations[overlay]]) if (object.kind !== 'Namespace') assert.equal(object.metadata.namespace, namespace?.metadata.name)
  }
})

// ---- rollouts ---------------------------------------------------------------------------------------
function imageTag(image: string): string {
  return image.includes('@') ? (image.split('@')[1] ?? '') : (image.split(':')[1] ?? '')
}

test('rollouts: immutable images, no replicas under an autoscaler, probes, drain and spread', () => {
  for (const overlay of OVERLAYS) {
    const objects = rendered[overlay]
    const autoscaled = new Set(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject').map((o) => (o.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name))
    for (const object of [...objects, ...migrations[overlay]]) {
      const pod = podSpecOf(object)
      if (!pod) continue
      const where = `${overlay} ${object.kind}/${object.metadata.name}`
      for (const container of pod.containers) {
        const tag = imageTag(container.image)
        assert.ok(tag && tag !== 'latest', `${where}: image ${container.image} has no immutable tag or digest`)
      }
      if (object.kind !== 'Deployment') continue
      const spec = (object as Workload).spec
      if (autoscaled.has(object.metadata.name)) assert.equal(spec.replicas, undefined, `${where}: replicas is set under an autoscaler`)
      if (object.metadata.name === 'simulators') continue
      const [container] = pod.containers
      assert.ok(container)
      assert.ok(container.startupProbe, `${where}: no startup probe`)
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) assert.ok(probe?.timeoutSeconds, `${where}: a probe without an explicit timeout`)
      assert.notEqual(container.livenessProbe?.httpGet?.path, '/health', `${where}: liveness on /health depends on upstreams; use /live`)
      assert.equal(container.livenessProbe?.httpGet?.path, '/live', where)
      assert.equal(container.readinessProbe?.httpGet?.path, '/ready', where)
      assert.ok((pod.topologySpreadConstraints ?? []).length > 0, `${where}: no topology spread`)
      const service = objects.find((o) => o.kind === 'Service' && (o.spec as { selector?: Record<string, string> }).selector?.['app.kubernetes.io/name'] === object.metadata.name)
      const preStop = Number(container.lifecycle?.preStop?.exec?.command.at(-1) ?? container.lifecycle?.preStop?.sleep?.seconds ?? 0)
      if (service && object.metadata.name !== 'integration-worker') assert.ok(preStop > 0, `${where}: serves a Service but has no preStop delay`)
      // preStop, then the server's close grace (10 s; the worker's 30 s), then a margin.
      const closeGrace = object.metadata.name === 'integration-worker' ? 30 : 10
      assert.ok((pod.terminationGracePeriodSeconds ?? 30) >= preStop + closeGrace + 5, `${where}: terminationGracePeriodSeconds does not cover preStop + drain`)
    }
    // A PodDisruptionBudget must allow one eviction at the autoscaler's minimum.
    for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      const spec = pdb.spec as { minAvailable?: number; maxUnavailable?: number }
      const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === pdb.metadata.name)
      const min = (hpa?.spec as { minReplicas?: number } | undefined)?.minReplicas ?? 1
      assert.ok(spec.maxUnavailable !== undefined ? spec.maxUnavailable >= 1 : (spec.minAvailable ?? 0) < min, `${overlay} PDB ${pdb.metadata.name} blocks every drain`)
    }
    const workerPdb = objects.find((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'integration-worker')
    assert.equal((workerPdb?.spec as { maxUnavailable?: number }).maxUnavailable, 1)
  }
})

test('migrations: one uniquely named Job per release, same image as the release, cleaned up by a TTL', () => {
  for (const overlay of OVERLAYS) {
    const [job] = migrations[overlay]
    assert.equal(job?.kind, 'Job')
    const spec = (job as Workload & { spec: { ttlSecondsAfterFinished?: number; backoffLimit?: number } }).spec
    assert.ok((spec.ttlSecondsAfterFinished ?? 0) > 0, `${overlay}: the Job has no ttlSecondsAfterFinished`)
    const jobImage = spec.template.spec.containers[0]?.image ?? ''
    const appImage = (rendered[overlay].find((o) => o.metadata.name === 'venue-service' && o.kind === 'Deployment') as Workload).spec.template.spec.containers[0]?.image
    assert.equal(jobImage, appImage, `${overlay}: the migration Job runs another image than the release`)
    const suffix = `-${imageTag(jobImage)
      .replace(/^sha256:/, '')
      .slice(0, 20)
      .replace(/[^a-z0-9]+/g, '-')}`
    assert.equal(job?.metadata.name, `venue-hub-migrate${suffix}`, `${overlay}: the Job's name does not carry the release (${suffix})`)
    assert.deepEqual(spec.template.spec.containers[0]?.command, ['node', 'scripts/migrate.js'])
  }
})

// ---- least privilege ----------------------------------------------------------------------------------
function secretKeys(name: string): string[] {
  return readFileSync(join(K8S, 'secrets', `${name}.env.example`), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=')[0] ?? '')
}

test('least privilege: one Secret per service, the gateway without keys or database, no secrets in ConfigMaps', () => {
  for (const overlay of OVERLAYS) {
    const owners = new Map<string, Set<string>>()
    for (const object of [...rendered[overlay], ...migrations[overlay]]) {
      const pod = podSpecOf(object)
      if (!pod) continue
      for (const container of pod.containers) {
        const secrets = [
          ...(container.envFrom ?? []).flatMap((source) => (source.secretRef ? [source.secretRef.name] : [])),
          ...(container.env ?? []).flatMap((variable) => (variable.valueFrom?.secretKeyRef ? [variable.valueFrom.secretKeyRef.name] : [])),
        ]
        assert.ok(new Set(secrets).size <= 1, `${overlay} ${object.metadata.name} reads several Secrets: ${secrets.join(', ')}`)
        const service = container.command?.[1]?.split('/')[1] ?? object.metadata.name
        for (const secret of secrets) owners.set(secret, new Set([...(owners.get(secret) ?? []), service]))
      }
    }
    // A Secret is read by the processes of one service only (integration-service's API and worker are one service).
    for (const [secret, services] of owners) assert.equal(services.size, 1, `${overlay}: ${secret} is read by ${[...services].join(', ')}`)
    assert.deepEqual([...owners.keys()].sort(), ['api-gateway-secrets', 'compliance-service-secrets', 'integration-service-secrets', 'venue-hub-migrate-secrets', 'venue-service-secrets'])
    for (const object of rendered[overlay].filter((o) => o.kind === 'ConfigMap')) {
      for (const [key, value] of Object.entries((object as { data?: Record<string, string> }).data ?? {})) {
        assert.doesNotMatch(key, /SECRET|PASSWORD|TOKEN|_KEYS$|DATABASE_URL|REDIS_URL|VERIFIER/, `${overlay} ConfigMap ${object.metadata.name} holds ${key}`)
        assert.doesNotMatch(value, /:\/\/[^/\s]*:[^/\s]*@/, `${overlay} ConfigMap ${object.metadata.name}.${key} carries credentials in a URL`)
      }
    }
  }
  const gateway = secretKeys('api-gateway-secrets')
  for (const forbidden of ['ENCRYPTION_KEYS', 'DATABASE_URL', 'DATABASE_ADMIN_URL']) assert.ok(!gateway.includes(forbidden), `the gateway's Secret holds ${forbidden}`)
  for (const name of ['venue-service-secrets', 'compliance-service-secrets']) assert.ok(!secretKeys(name).includes('ENCRYPTION_KEYS'), `${name} holds ENCRYPTION_KEYS`)
  assert.deepEqual(secretKeys('venue-hub-migrate-secrets'), ['DATABASE_ADMIN_URL'])
})

test('network: default deny, DNS, each service reachable only from its callers, TLS at the edge', () => {
  for (const overlay of OVERLAYS) {
    const policies = rendered[overlay].filter((o) => o.kind === 'NetworkPolicy') as Array<
      K8sObject & { spec: { podSelector: { matchLabels?: Record<string, string> }; policyTypes: string[]; ingress?: Array<{ from?: Array<{ podSelector?: { matchLabels?: Record<string, string> } }> }> } }
    >
    const deny = policies.find((p) => p.metadata.name === 'default-deny')
    assert.deepEqual(deny?.spec.podSelector, {})
    assert.deepEqual(deny?.spec.policyTypes, ['Ingress', 'Egress'])
    assert.ok(deny && !('ingress' in deny.spec) && !('egress' in deny.spec))
    assert.ok(policies.some((p) => p.metadata.name === 'allow-dns'))
    const callersOf = (name: string) =>
      policies
        .filter((p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] === name)
        .flatMap((p) => p.spec.ingress ?? [])
        .flatMap((rule) => rule.from ?? [])
        .map((from) => from.podSelector?.matchLabels?.['app.kubernetes.io/name'])
        .filter(Boolean)
        .sort()
    assert.deepEqual(callersOf('venue-service'), ['api-gateway', 'integration-service', 'integration-worker'])
    assert.deepEqual(callersOf('integration-service'), ['api-gateway', 'compliance-service', 'compliance-sync-consumer', 'venue-service'])
    assert.deepEqual(callersOf('compliance-service'), ['api-gateway', 'integration-service', 'integration-worker', 'venue-service'])
  }
  const ingress = rendered.production.find((o) => o.kind === 'Ingress') as K8sObject & { spec: { tls?: unknown[] } }
  assert.ok((ingress.spec.tls ?? []).length > 0, 'production Ingress has no TLS')
})

// ---- configuration ---------------------------------------------------------------------------------
const LOADERS: Record<string, (env: NodeJS.ProcessEnv) => unknown> = {
  'services/api-gateway/src/server.js': loadGatewayConfig,
  'services/venue-service/src/server.js': loadVenueConfig,
  'services/integration-service/src/server.js': loadIntegrationConfig,
  'services/integration-service/src/worker.js': loadIntegrationConfig,
  'services/compliance-service/src/server.js': loadComplianceConfig,
}

/** Stand-in values of the right shape for a Secret's keys (the real ones never leave the cluster). */
function secretValues(name: string, development: boolean): Record<string, string> {
  const key = 'k'.repeat(40)
  const values: Record<string, string> = {
    DATABASE_URL: 'postgres://hub_role:pw@db.internal:5432/venue_hub?sslmode=verify-full',
    REDIS_URL: 'rediss://:pw@redis.internal:6380',
    INTERNAL_AUTH_KEYS: JSON.stringify({ 'api-gateway': { k1: key }, 'venue-service': { k1: key }, 'integration-service': { k1: key }, 'compliance-service': { k1: key } }),
    ENCRYPTION_KEYS: JSON.stringify({ 1: Buffer.alloc(32, 3).toString('base64') }),
    AUDIT_SIGNING_KEYS: JSON.stringify({ 1: Buffer.alloc(32, 5).toString('base64') }),
  }
  const out = Object.fromEntries(secretKeys(name).map((k) => [k, values[k] ?? 'x'.repeat(40)]))
  // Development clusters add a JWT_SECRET for HS256 tokens (scripts/deploy-smoke.sh creates it).
  return development ? { ...out, JWT_SECRET: 'dev-only-'.padEnd(48, 'x') } : out
}

test("each process's config loads from its ConfigMaps, env and Secret keys, in every overlay", () => {
  for (const overlay of OVERLAYS) {
    const configMaps = new Map(rendered[overlay].filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, (o as { data?: Record<string, string> }).data ?? {}]))
    let checked = 0
    for (const object of rendered[overlay].filter((o) => o.kind === 'Deployment')) {
      const container = (object as Workload).spec.template.spec.containers[0]
      const loader = LOADERS[container?.command?.[1] ?? '']
      if (!container || !loader) continue
      const env: Record<string, string> = {}
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef) Object.assign(env, configMaps.get(source.configMapRef.name) ?? assert.fail(`${object.metadata.name}: no ConfigMap ${source.configMapRef.name}`))
      }
      const development = env.NODE_ENV !== 'production'
      for (const source of container.envFrom ?? []) if (source.secretRef) Object.assign(env, secretValues(source.secretRef.name, development))
      for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value
      assert.doesNotThrow(
        () => loader(env),
        (error: Error) => `${overlay} ${object.metadata.name}: ${error.message}`,
      )
      checked++
    }
    assert.equal(checked, 6, `${overlay}: expected six service processes`)
  }
  const production = new Map(rendered.production.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, (o as { data?: Record<string, string> }).data ?? {}]))
  assert.equal(production.get('venue-hub-config')?.NODE_ENV, 'production')
  assert.match(production.get('api-gateway-config')?.TRUST_PROXY ?? '', /\d+\.\d+\.\d+\.\d+\/\d+/, 'production TRUST_PROXY names the proxies')
  assert.ok(production.get('venue-hub-config')?.OPERATOR_TENANT_IDS, 'production sets OPERATOR_TENANT_IDS')
})

// ---- capacity ------------------------------------------------------------------------------------------
/** The connection budget the README's Capacity section sizes Postgres for. */
const POSTGRES_CONNECTION_BUDGET = 220

test("capacity: connections at the autoscalers' maxima fit the documented Postgres budget; the worker scales on queue depth", () => {
  const objects = rendered.production
  let total = 0
  for (const object of objects.filter((o) => o.kind === 'Deployment')) {
    const container = (object as Workload).spec.template.spec.containers[0]
    const pool = container?.env?.find((variable) => variable.name === 'DATABASE_POOL_MAX')?.value
    if (object.metadata.name === 'api-gateway') {
      assert.equal(pool, undefined, 'the gateway has no database')
      continue
    }
    assert.ok(pool, `${object.metadata.name} sets no DATABASE_POOL_MAX`)
    const scaler = objects.find((o) => (o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject') && (o.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === object.metadata.name)
    const max = scaler ? ((scaler.spec as { maxReplicas?: number; maxReplicaCount?: number }).maxReplicas ?? (scaler.spec as { maxReplicaCount?: number }).maxReplicaCount ?? 0) : ((object as Workload).spec.replicas ?? 1)
    total += max * Number(pool)
  }
  assert.ok(total <= POSTGRES_CONNECTION_BUDGET, `${total} connections at the maxima exceed the budget of ${POSTGRES_CONNECTION_BUDGET}`)
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  assert.ok(readme.includes(`${total} connections`), `the README's Capacity section does not state the ${total} connections at the maxima`)

  const worker = objects.find((o) => o.kind === 'ScaledObject' && o.metadata.name === 'integration-worker') as K8sObject & { spec: { triggers: Array<{ type: string; metadata: { query: string } }> } }
  assert.equal(worker.spec.triggers[0]?.type, 'prometheus')
  assert.match(worker.spec.triggers[0]?.metadata.query ?? '', /integration_queue_jobs\{state="waiting"\}/)
  assert.ok(!objects.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'integration-worker'), 'the worker must not scale on CPU')
})

test("the worker's heap is sized as the launcher and the benches run it, within its container, keeping the image's flags", () => {
  const imageFlags = /NODE_OPTIONS=(\S+)/.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? ''
  assert.ok(imageFlags, 'the Dockerfile sets no NODE_OPTIONS')
  for (const overlay of OVERLAYS) {
    const worker = rendered[overlay].find((o) => o.kind === 'Deployment' && o.metadata.name === 'integration-worker') as Workload & {
      spec: { template: { spec: { containers: Array<Container & { resources?: { limits?: { memory?: string } } }> } } }
    }
    const container = worker.spec.template.spec.containers[0]
    const flags = (container?.env?.find((variable) => variable.name === 'NODE_OPTIONS')?.value ?? '').split(' ')
    // NODE_OPTIONS here replaces the image's: its flags must still be there.
    for (const flag of [imageFlags, ...WORKER_NODE_ARGS]) assert.ok(flags.includes(flag), `${overlay}: the worker's NODE_OPTIONS lacks ${flag}`)
    const heapMb = Number(/--max-old-space-size=(\d+)/.exec(WORKER_NODE_ARGS.join(' '))?.[1])
    const limit = /^(\d+)Mi$/.exec(container?.resources?.limits?.memory ?? '')
    assert.ok(limit, `${overlay}: the worker's memory limit is not in Mi`)
    // The heap is not all of a process: code, stacks, buffers and the young generation sit beside it.
    assert.ok(heapMb * 2 <= Number(limit[1]), `${overlay}: a ${heapMb} MB heap leaves too little of the worker's ${limit[1]}Mi`)
  }
})
