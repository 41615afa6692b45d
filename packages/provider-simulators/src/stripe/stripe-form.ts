// Stripe's wire format for parameters: form encoding with bracket notation (`metadata[a]=b`,
// `expand[]=x`, `types[0]=y`, `created[gte]=1`), in request bodies and query strings alike.
// The official SDKs send indexed arrays (`expand[0]=...`); curl users send `expand[]=...`.
import { isUnsafeKey } from '@hub/contracts'

export type FormValue = string | FormValue[] | FormObject
export interface FormObject {
  [key: string]: FormValue
}

function decode(text: string): string {
  const spaced = text.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(spaced)
  } catch {
    return spaced
  }
}

function splitKey(key: string): string[] {
  const open = key.indexOf('[')
  if (open <= 0) return [key]
  const segments = [key.slice(0, open)]
  const rest = key.slice(open)
  const re = /\[([^\]]*)\]/g
  let consumed = 0
  for (let match = re.exec(rest); match; match = re.exec(rest)) {
    if (match.index !== consumed) break
    segments.push(match[1] ?? '')
    consumed = re.lastIndex
  }
  // Malformed brackets (`a[b`): treat the whole thing as a flat key, as qs does.
  return consumed === rest.length ? segments : [key]
}

/** Containers reached through `[]` or `[<digits>]`, turned into arrays once the whole input is read. */
type ArrayMarks = WeakSet<FormObject>

function assign(target: FormObject, segments: string[], value: string, arrays: ArrayMarks): void {
  let node = target
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i] as string
    // Stripe has no such params; following one would reach Object.prototype.
    if (isUnsafeKey(segment)) return
    const last = i === segments.length - 1
    if (segment === '' && arrays.has(node)) segment = String(Object.keys(node).length)
    if (last) {
      node[segment] = value
      return
    }
    const next = segments[i + 1] as string
    let child = node[segment]
    if (typeof child !== 'object' || Array.isArray(child)) {
      child = {}
      node[segment] = child
    }
    if (next === '' || /^\d+$/.test(next)) arrays.add(child)
    node = child
  }
}

function finish(value: FormValue, arrays: ArrayMarks): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value
  if (arrays.has(value) && Object.keys(value).every((key) => /^\d+$/.test(key))) {
    return Object.keys(value)
      .sort((a, b) => Number(a) - Number(b))
      .map((key) => finish(value[key] as FormValue, arrays))
  }
  const out: FormObject = {}
  for (const [key, child] of Object.entries(value)) out[key] = finish(child, arrays)
  return out
}

export function parseStripeForm(input: string): FormObject {
  const root: FormObject = {}
  const arrays: ArrayMarks = new WeakSet()
  for (const part of input.split('&')) {
    if (!part) continue
    const eq = part.indexOf('=')
    const key = decode(eq === -1 ? part : part.slice(0, eq))
    const value = decode(eq === -1 ? '' : part.slice(eq + 1))
    if (!key) continue
    assign(root, splitKey(key), value, arrays)
  }
  return finish(root, arrays) as FormObject
}

/** The inverse, for the simulator's own redirects and tests. */
export function encodeStripeForm(data: Record<string, unknown>): string {
  const pairs: string[] = []
  const walk = (key: string, value: unknown): void => {
    if (value === undefined) return
    if (value === null || typeof value !== 'object') {
      pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(value === null ? '' : String(value))}`)
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => walk(`${key}[${index}]`, item))
    } else {
      for (const [child, inner] of Object.entries(value)) walk(`${key}[${child}]`, inner)
    }
  }
  for (const [key, value] of Object.entries(data)) walk(key, value)
  return pairs.join('&')
}
