// A renderer of the kustomize subset that infra/k8s uses, so CI renders every overlay without a
// kustomize binary (none is packaged for the machines CI runs on). It refuses any kustomization
// field it does not implement, so it cannot silently render something kustomize would render
// differently; scripts/deploy-smoke.sh compares it with `kubectl kustomize` where kubectl exists.
//
// Supported: resources (files and folders), namespace, nameSuffix, images (newName, newTag,
// digest), and patches by path: strategic merge patches (containers, env, ports, volumes and
// volume mounts merged by their key; other lists replaced; `$patch: delete` on a whole object).
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>

interface Kustomization {
  apiVersion?: string
  kind?: string
  namespace?: string
  nameSuffix?: string
  resources?: string[]
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>
  patches?: Array<{ path: string }>
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'namespace', 'nameSuffix', 'resources', 'images', 'patches'])
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass'])
/** patchMergeKey of the lists this repository patches (from the Kubernetes API's strategic merge metadata). */
const MERGE_KEYS: Record<string, string> = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath', ports: 'containerPort' }

function readDocuments(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((doc): doc is K8sObject => doc !== null)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function strategicMerge(target: unknown, patch: unknown, key?: string): unknown {
  if (isRecord(target) && isRecord(patch)) {
    const out: Record<string, unknown> = { ...target }
    for (const [name, value] of Object.entries(patch)) {
      if (value === null) delete out[name]
      else out[name] = name in target ? strategicMerge(target[name], value, name) : value
    }
    return out
  }
  if (Array.isArray(target) && Array.isArray(patch) && key && MERGE_KEYS[key]) {
    const mergeKey = MERGE_KEYS[key]
    const out = [...target]
    for (const item of patch) {
      const index = isRecord(item) ? out.findIndex((existing) => isRecord(existing) && existing[mergeKey] === item[mergeKey]) : -1
      if (index >= 0) out[index] = strategicMerge(out[index], item)
      else out.push(item)
    }
    return out
  }
  return patch
}

function setImages(node: unknown, images: NonNullable<Kustomization['images']>, key?: string): unknown {
  if (Array.isArray(node)) {
    return node.map((item) => {
      if ((key === 'containers' || key === 'initContainers') && isRecord(item) && typeof item.image === 'string') {
        const [name, tag] = item.image.split(':') as [string, string | undefined]
        const image = images.find((candidate) => candidate.name === name)
        if (image) {
          const repository = image.newName ?? name
          const reference = image.digest ? `${repository}@${image.digest}` : `${repository}:${image.newTag ?? tag ?? 'latest'}`
          return setImages({ ...item, image: reference }, images)
        }
      }
      return setImages(item, images)
    })
  }
  if (isRecord(node)) return Object.fromEntries(Object.entries(node).map(([name, value]) => [name, setImages(value, images, name)]))
  return node
}

const identity = (object: K8sObject) => `${object.kind}/${object.metadata.name}`

export function render(dir: string): K8sObject[] {
  const file = join(dir, 'kustomization.yaml')
  const [kustomization] = readDocuments(file) as unknown as Kustomization[]
  if (!kustomization) throw new Error(`${file} is empty`)
  const unsupported = Object.keys(kustomization).filter((field) => !SUPPORTED.has(field))
  if (unsupported.length > 0) throw new Error(`${file}: ${unsupported.join(', ')} not supported by infra/test/kustomize.ts`)

  let objects: K8sObject[] = []
  for (const resource of kustomization.resources ?? []) {
    const path = join(dir, resource)
    objects.push(...(statSync(path).isDirectory() ? render(path) : readDocuments(path)))
  }
  const seen = new Set<string>()
  for (const object of objects) {
    if (seen.has(identity(object))) throw new Error(`${dir}: ${identity(object)} is defined twice`)
    seen.add(identity(object))
  }

  for (const { path } of kustomization.patches ?? []) {
    for (const patch of readDocuments(join(dir, path))) {
      const index = objects.findIndex((object) => object.kind === patch.kind && object.metadata.name === patch.metadata.name)
      if (index < 0) throw new Error(`${join(dir, path)}: no ${identity(patch)} to patch`)
      if (patch.$patch === 'delete') objects = objects.filter((_, i) => i !== index)
      else objects[index] = strategicMerge(objects[index], patch) as K8sObject
    }
  }
  if (kustomization.images) objects = objects.map((object) => setImages(object, kustomization.images ?? []) as K8sObject)
  if (kustomization.nameSuffix) {
    const suffix = kustomization.nameSuffix
    objects = objects.map((object) => (object.kind === 'Namespace' ? object : { ...object, metadata: { ...object.metadata, name: `${object.metadata.name}${suffix}` } }))
  }
  if (kustomization.namespace) {
    const namespace = kustomization.namespace
    objects = objects.map((object) => (CLUSTER_SCOPED.has(object.kind) ? object : { ...object, metadata: { ...object.metadata, namespace } }))
  }
  return objects
}
