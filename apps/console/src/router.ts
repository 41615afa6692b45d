// A small History-API router: the gateway answers every console route with index.html.
import { useEffect, useState } from 'preact/hooks'

const listeners = new Set<() => void>()
let returnTo: string | null = null

/**
 * `path` when it is a page of this console — one leading slash (not `//`, which a browser reads as
 * another host), no backslash or control character (browsers turn `/\` and `/<tab>/` into `//`) —
 * as its path, query and fragment; otherwise null. Where a sign-in returns to must not leave the site.
 */
export function safeReturnPath(path: unknown, origin = location.origin): string | null {
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || /[\\\p{Cc}]/u.test(path)) return null
  try {
    const url = new URL(path, origin)
    return url.origin === origin ? url.pathname + url.search + url.hash : null
  } catch {
    return null
  }
}

/** Where to go after signing in: the page that asked for a sign-in, else the venues. */
export function rememberReturn(path: string): void {
  if (path !== '/sign-in' && path !== '/') returnTo = safeReturnPath(path)
}
/** The page to return to after signing in, kept for later (the OpenID sign-in leaves the page). */
export const returnPath = (): string => returnTo ?? '/venues'
export function takeReturn(): string {
  const path = returnPath()
  returnTo = null
  return path
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path)
  else history.pushState(null, '', path)
  for (const listener of listeners) listener()
}

addEventListener('popstate', () => {
  for (const listener of listeners) listener()
})

export function useLocation(): { path: string; query: URLSearchParams } {
  const [, setTick] = useState(0)
  useEffect(() => {
    const listener = () => setTick((n) => n + 1)
    listeners.add(listener)
    return () => void listeners.delete(listener)
  }, [])
  return { path: location.pathname, query: new URLSearchParams(location.search) }
}

/** Matches `/venues/:id/:tab` style patterns; returns the parameters or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean)
  const got = path.split('/').filter(Boolean)
  const params: Record<string, string> = {}
  for (let i = 0; i < want.length; i++) {
    const segment = want[i] ?? ''
    const value = got[i]
    if (segment.endsWith('?') && value === undefined) continue
    if (value === undefined) return null
    if (segment.startsWith(':')) params[segment.slice(1).replace(/\?$/, '')] = decodeURIComponent(value)
    else if (segment !== value) return null
  }
  return got.length <= want.length ? params : null
}
