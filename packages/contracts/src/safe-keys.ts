// Objects built from names a client chose (form fields, query keys, dot paths, settings keys).
// A plain `{}` inherits from Object.prototype, so `node['__proto__']` walks into the prototype
// every object in the process shares: one request could then change how every tenant's requests
// behave. Containers made here have no prototype, and the three names that reach a prototype or
// a constructor are refused outright rather than stored.

const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** `__proto__`, `constructor` and `prototype`: never a key of an object built from input. */
export function isUnsafeKey(key: string): boolean {
  return UNSAFE_KEYS.has(key)
}

/** The first unsafe segment of a path (`a.__proto__.b` → `__proto__`), or null. */
export function unsafeSegment(path: readonly string[]): string | null {
  return path.find((segment) => UNSAFE_KEYS.has(segment)) ?? null
}

/** An empty object with no prototype: keys read from it are only the ones set on it. */
export function nullObject<T = unknown>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}

export interface NestedRecord {
  [key: string]: unknown
}

/**
 * Sets `root[path[0]][path[1]]...[last] = value`, creating missing levels as null-prototype
 * objects and replacing non-object values on the way. Returns false, changing nothing, when a
 * segment is unsafe or the path is empty.
 */
export function setPath(root: NestedRecord, path: readonly string[], value: unknown): boolean {
  if (path.length === 0 || unsafeSegment(path) !== null) return false
  let node = root
  for (const [index, segment] of path.entries()) {
    if (index === path.length - 1) {
      node[segment] = value
      break
    }
    const next = Object.hasOwn(node, segment) ? node[segment] : undefined
    if (next !== null && typeof next === 'object' && !Array.isArray(next)) {
      node = next as NestedRecord
    } else {
      const created = nullObject()
      node[segment] = created
      node = created
    }
  }
  return true
}
