// `node --import tsx scripts/k8s-render.ts <overlay> [--compare]`: prints what `kubectl apply -k
// infra/k8s/overlays/<overlay>` would apply, rendered by infra/test/kustomize.ts (what CI
// validates). --compare also renders it with `kubectl kustomize` and fails on any difference.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { parseAllDocuments, stringify } from 'yaml'
import { render, type K8sObject } from '../infra/test/kustomize.ts'

const overlay = process.argv[2]
if (!overlay) {
  console.error('usage: scripts/k8s-render.ts <overlay, e.g. production or production/migrate> [--compare]')
  process.exit(2)
}
const dir = join(import.meta.dirname, '..', 'infra', 'k8s', 'overlays', overlay)
const objects = render(dir)

if (process.argv.includes('--compare')) {
  const kubectl = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })
  if (kubectl.status !== 0) {
    console.error(`kubectl kustomize failed: ${kubectl.error?.message ?? kubectl.stderr}`)
    process.exit(1)
  }
  const key = (object: K8sObject) => `${object.kind}/${object.metadata.name}`
  const theirs = new Map(
    parseAllDocuments(kubectl.stdout)
      .map((doc) => doc.toJS() as K8sObject)
      .map((object) => [key(object), object]),
  )
  const ours = new Map(objects.map((object) => [key(object), object]))
  const differing = [...new Set([...theirs.keys(), ...ours.keys()])].filter((name) => !isDeepStrictEqual(theirs.get(name), ours.get(name)))
  if (differing.length > 0) {
    console.error(`${overlay}: infra/test/kustomize.ts and kubectl kustomize disagree on ${differing.join(', ')}`)
    process.exit(1)
  }
  console.log(`${overlay}: ${objects.length} objects, identical to kubectl kustomize`)
} else {
  process.stdout.write(objects.map((object) => stringify(object)).join('---\n'))
}
