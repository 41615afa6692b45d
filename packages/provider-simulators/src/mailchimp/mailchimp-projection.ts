// `fields` / `exclude_fields`: comma-separated dot paths (`members.email_address`) that trim a
// response, applied through arrays as Mailchimp does for collection members. The paths come from
// the query string, so the tree has no prototype and `__proto__`-like segments are ignored.
import { isUnsafeKey, nullObject } from '@hub/contracts'

type PathTree = { [key: string]: PathTree | true }

function buildTree(spec: string): PathTree {
  const tree: PathTree = nullObject<PathTree | true>()
  for (const path of spec
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    let node = tree
    const parts = path.split('.')
    if (parts.some(isUnsafeKey)) continue
    parts.forEach((part, index) => {
      if (index === parts.length - 1) {
        node[part] = true
        return
      }
      const next = node[part]
      if (next === true) return
      node = next ?? (node[part] = nullObject<PathTree | true>())
    })
  }
  return tree
}

function include(value: unknown, tree: PathTree): unknown {
  if (Array.isArray(value)) return value.map((item) => include(item, tree))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, node] of Object.entries(tree)) {
    if (!Object.hasOwn(value, key)) continue
    const child = (value as Record<string, unknown>)[key]
    out[key] = node === true ? child : include(child, node)
  }
  return out
}

function exclude(value: unknown, tree: PathTree): unknown {
  if (Array.isArray(value)) return value.map((item) => exclude(item, tree))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  for (const [key, node] of Object.entries(tree)) {
    if (!Object.hasOwn(out, key)) continue
    if (node === true) delete out[key]
    else out[key] = exclude(out[key], node)
  }
  return out
}

export function project(body: unknown, fields: unknown, excludeFields: unknown): unknown {
  let out = body
  if (typeof fields === 'string' && fields !== '') out = include(out, buildTree(fields))
  if (typeof excludeFields === 'string' && excludeFields !== '') out = exclude(out, buildTree(excludeFields))
  return out
}
