// Sign-in: the platform's OpenID Connect provider in production; outside production, one click
// as a demo persona (the gateway mints the token, and has no such route in production).
import type { JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiError, plainWords } from '../api/client.ts'
import { sessionFromToken, setSession } from '../auth/session.ts'
import type { OidcSettings } from '../auth/oidc.ts'
import { navigate, returnPath, takeReturn } from '../router.ts'
import { ErrorNote } from '../ui.tsx'

export interface ConsoleSettings {
  devSignIn: boolean
  oidc: OidcSettings | null
}

export async function loadSettings(): Promise<ConsoleSettings> {
  const response = await fetch('/console/settings.json')
  if (!response.ok) throw new Error(`settings answered ${response.status}`)
  return (await response.json()) as ConsoleSettings
}

const PERSONAS = [
  { persona: 'admin', label: 'Demo admin', what: 'everything in the demo tenant' },
  { persona: 'manager', label: 'Venue manager', what: 'manages the first venue only' },
  { persona: 'viewer', label: 'Viewer', what: 'reads, changes nothing' },
  { persona: 'operator', label: 'Operator', what: 'admin of the operator tenant: queues, dead letters' },
] as const

async function devSignIn(persona: string): Promise<void> {
  const response = await fetch('/console/dev-sign-in', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ persona }) })
  const body = (await response.json()) as { token?: string; code?: string; detail?: string; requestId?: string }
  if (!response.ok || !body.token) throw new ApiError(response.status, body.code ?? 'SIGN_IN_FAILED', plainWords(response.status, body), body.requestId ?? response.headers.get('x-request-id'))
  const label = PERSONAS.find((p) => p.persona === persona)?.label ?? persona
  setSession(sessionFromToken(body.token, label))
  navigate(takeReturn(), true)
}

export function SignInPage({ settings }: { settings: ConsoleSettings }): JSX.Element {
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const attempt = (work: () => Promise<void>) => {
    setBusy(true)
    setError(null)
    work()
      .catch((caught: unknown) => setError(caught))
      .finally(() => setBusy(false))
  }
  return (
    <main id="main" class="narrow">
      <h1>Sign in to the Venue Integration Hub</h1>
      {settings.oidc ? (
        <button type="button" class="primary" disabled={busy} onClick={() => attempt(async () => (await import('../auth/oidc.ts')).startSignIn(settings.oidc as OidcSettings, returnPath()))}>
          Sign in with your organisation
        </button>
      ) : null}
      {settings.devSignIn ? (
        <section aria-labelledby="dev-title" class="card">
          <h2 id="dev-title">Development sign-in</h2>
          <p class="muted">Only outside production. Pick who to be:</p>
          <ul class="personas">
            {PERSONAS.map((p) => (
              <li key={p.persona}>
                <button type="button" disabled={busy} onClick={() => attempt(() => devSignIn(p.persona))}>
                  {p.label}
                </button>{' '}
                <span class="muted">{p.what}</span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {!settings.oidc && !settings.devSignIn ? <p role="alert">No sign-in is configured: set OIDC_ISSUER and OIDC_CLIENT_ID on the gateway.</p> : null}
      <ErrorNote error={error} />
    </main>
  )
}

export function OidcCallbackPage({ settings }: { settings: OidcSettings }): JSX.Element {
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    import('../auth/oidc.ts').then((oidc) => oidc.completeSignIn(settings)).then((returnTo) => navigate(returnTo, true), setError)
  }, [])
  return (
    <main id="main" class="narrow">
      <h1>Signing you in…</h1>
      <ErrorNote error={error} />
    </main>
  )
}
