// Where the provider's consent page sends the browser back (through the hub's OAuth callback). It
// opens in the window the console popped up, so it only reports and closes; the console notices
// the new connection itself.
import type { JSX } from 'preact'

const REASONS: Record<string, string> = {
  access_denied: 'the account owner declined access',
  missing_code: 'the provider did not send an authorization code',
  exchange_failed: 'the provider refused to exchange the code',
}

export function OAuthCompletePage(): JSX.Element {
  const query = new URLSearchParams(location.search)
  const ok = query.get('status') === 'success'
  const provider = query.get('provider') ?? 'The provider'
  const reason = query.get('reason') ?? ''
  if (ok && window.opener) setTimeout(() => window.close(), 1500)
  return (
    <main id="main" class="narrow">
      <h1>{ok ? `${provider} connected` : `${provider} was not connected`}</h1>
      <p role="status">{ok ? 'You can close this window; the console shows the new connection.' : `The connection failed: ${REASONS[reason] ?? reason ?? 'unknown reason'}. Close this window and try again.`}</p>
      <p>
        <a href={query.get('venueId') ? `/venues/${query.get('venueId')}` : '/venues'}>Back to the console</a>
      </p>
    </main>
  )
}
