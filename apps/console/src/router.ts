// A small History-API router: the gateway answers every console route with index.html.
import { useEffect, useState } from 'preact/hooks'

const listeners = new Set<() => void>()
let returnTo: string | null = null

/** Where to go after signing in: the page that asked for a sign-in, else the venues. */
export function rememberReturn(path: string): void {
  if (path !== '/sign-in' && path !== '/') returnTo = path
}
export function takeReturn(): string {
  const path = returnTo ?? '/venues'
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
