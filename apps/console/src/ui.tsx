// Shared pieces of every page: links that stay in the app, loading and error states, status badges.
import type { ComponentChildren, JSX } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError } from './api/client.ts'
import { navigate } from './router.ts'

export function Link(props: { href: string; children: ComponentChildren; class?: string; current?: boolean }): JSX.Element {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return
        event.preventDefault()
        navigate(props.href)
      }}
    >
      {props.children}
    </a>
  )
}

/** An API failure in plain words, with the request id to quote. */
export function ErrorNote({ error }: { error: unknown }): JSX.Element | null {
  if (!error) return null
  const apiError = error instanceof ApiError ? error : null
  return (
    <div class="error" role="alert">
      <p>{apiError ? apiError.message : error instanceof Error ? error.message : String(error)}</p>
      {apiError?.requestId ? (
        <p class="muted">
          Request id to quote: <code>{apiError.requestId}</code>
        </p>
      ) : null}
    </div>
  )
}

export interface Loaded<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  reload: () => void
}

/** Loads on mount and whenever `deps` change; `reload` loads again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: null, loading: true })
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState({ data: undefined, error, loading: false }),
    )
    return () => {
      live = false
    }
  }, [...deps, tick])
  return { ...state, reload: useCallback(() => setTick((n) => n + 1), []) }
}

/** Runs an action, keeping its error (shown by the caller) and a busy flag for its button. */
export function useAction(): { busy: boolean; error: unknown; run: (action: () => Promise<unknown>) => Promise<void>; clear: () => void } {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true)
    setError(null)
    try {
      await action()
    } catch (caught) {
      setError(caught)
    } finally {
      setBusy(false)
    }
  }, [])
  return { busy, error, run, clear: () => setError(null) }
}

const STATUS_CLASS: Record<string, string> = {
  active: 'ok',
  success: 'ok',
  succeeded: 'ok',
  queued: 'warn',
  completed: 'ok',
  closed: 'ok',
  pending: 'warn',
  running: 'warn',
  waiting: 'warn',
  delayed: 'warn',
  partial: 'warn',
  half_open: 'warn',
  needs_reauth: 'bad',
  error: 'bad',
  failed: 'bad',
  open: 'bad',
  disconnected: 'muted',
  cancelled: 'muted',
}

export function Badge({ status }: { status: string }): JSX.Element {
  return <span class={`badge ${STATUS_CLASS[status] ?? 'muted'}`}>{status.replace(/_/g, ' ')}</span>
}

export function Loading({ what }: { what: string }): JSX.Element {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  )
}

export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—')

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }): JSX.Element {
  return (
    <section class="card" aria-label={props.title}>
      <header class="card-head">
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  )
}
