// The console's shell: sign-in, navigation by role, and the page for the current route.
import { render, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import './styles.css'
import { getSession, isAdmin, onSessionChange, signOut, type Session } from './auth/session.ts'
import { match, navigate, rememberReturn, useLocation } from './router.ts'
import { Link } from './ui.tsx'
import { SignInPage, OidcCallbackPage, loadSettings, type ConsoleSettings } from './pages/sign-in.tsx'
import { VenuesPage } from './pages/venues.tsx'
import { VenuePage } from './pages/venue.tsx'
import { AuditPage } from './pages/audit.tsx'
import { SecurityPage } from './pages/security.tsx'
import { OperationsPage } from './pages/operations.tsx'
import { OAuthCompletePage } from './pages/oauth-complete.tsx'

function useSession(): Session | null {
  const [session, setSession] = useState(getSession())
  useEffect(() => onSessionChange(() => setSession(getSession())), [])
  return session
}

/**
 * Signs out here and, with OpenID Connect, at the provider as well: on a shared venue terminal the
 * next person pressing "Sign in" must not come back as this one. The development sign-in only
 * forgets the session.
 */
function signOutEverywhere(settings: ConsoleSettings): void {
  const idToken = signOut()
  navigate('/sign-in')
  const oidc = settings.oidc
  if (oidc) void import('./auth/oidc.ts').then((module) => module.signOutAtProvider(oidc, idToken)).catch((error: unknown) => console.warn('could not end the session at the sign-in provider', error))
}

function Nav({ session, path, settings }: { session: Session; path: string; settings: ConsoleSettings }): JSX.Element {
  const items: [string, string][] = [['/venues', 'Venues']]
  if (isAdmin(session)) items.push(['/audit', 'Audit'], ['/security', 'Security events'], ['/operations', 'Operations'])
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <span class="brand">Venue Integration Hub</span>
      <nav aria-label="Main">
        <ul>
          {items.map(([href, label]) => (
            <li key={href}>
              <Link href={href} current={path.startsWith(href)}>
                {label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <span class="who">
        <span data-testid="signed-in-as">{session.label}</span> <span class="muted">({session.roles.join(', ')})</span>
        <button type="button" class="link" onClick={() => signOutEverywhere(settings)}>
          Sign out
        </button>
      </span>
    </header>
  )
}

function Routes({ session, path }: { session: Session; path: string }): JSX.Element {
  let params: Record<string, string> | null
  if ((params = match('/venues/:id/:tab?', path))) return <VenuePage session={session} venueId={params.id ?? ''} tab={params.tab ?? 'connections'} />
  if (match('/venues', path)) return <VenuesPage session={session} />
  if ((params = match('/audit/:tab?', path))) return <AuditPage tab={params.tab ?? 'log'} />
  if (match('/security', path)) return <SecurityPage session={session} />
  if (match('/operations', path)) return <OperationsPage />
  return (
    <div class="card">
      <h1>Not found</h1>
      <p>
        There is no page here. <Link href="/venues">Go to the venues</Link>.
      </p>
    </div>
  )
}

function App(): JSX.Element {
  const session = useSession()
  const { path } = useLocation()
  const [settings, setSettings] = useState<ConsoleSettings | null>(null)
  const [settingsError, setSettingsError] = useState<string | null>(null)
  useEffect(() => {
    loadSettings().then(setSettings, (error: unknown) => setSettingsError(String(error)))
  }, [])

  if (path === '/oauth-complete') return <OAuthCompletePage />
  if (settingsError)
    return (
      <main id="main" class="narrow">
        <p role="alert">The console could not reach the hub: {settingsError}</p>
      </main>
    )
  if (!settings)
    return (
      <main id="main" class="narrow">
        <p role="status">Loading…</p>
      </main>
    )
  if (path === '/auth/callback' && settings.oidc) return <OidcCallbackPage settings={settings.oidc} />
  if (!session) {
    if (path !== '/sign-in') {
      rememberReturn(location.pathname + location.search)
      queueMicrotask(() => navigate('/sign-in', true))
    }
    return <SignInPage settings={settings} />
  }
  if (path === '/' || path === '/sign-in') queueMicrotask(() => navigate('/venues', true))
  return (
    <>
      <Nav session={session} path={path} settings={settings} />
      <main id="main" tabIndex={-1}>
        <Routes session={session} path={path} />
      </main>
    </>
  )
}

const root = document.getElementById('app')
if (root) render(<App />, root)
