// Who is signed in. The token lives in this module's memory only — never localStorage or a
// readable cookie — so a reload signs out (the OpenID provider's own session signs back in quickly).
export type Role = 'admin' | 'manager' | 'viewer'

export interface Session {
  token: string
  userId: string
  tenantId: string
  roles: Role[]
  /** Venues a manager or viewer is limited to; null means every venue of the tenant. */
  venueIds: string[] | null
  label: string
  expiresAt: number
  /** The OpenID provider's ID token of this session: only for naming it at the provider's sign-out. */
  idToken?: string
}

let session: Session | null = null
const listeners = new Set<() => void>()

function base64UrlJson(part: string): Record<string, unknown> {
  const padded = part
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(part.length / 4) * 4, '=')
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)))) as Record<string, unknown>
}

/** Reads the claims for display and role-aware screens; the API verifies the token itself. */
export function sessionFromToken(token: string, label?: string, claimsNamespace = ''): Session {
  const payload = base64UrlJson(token.split('.')[1] ?? '')
  // Providers that require namespaced custom claims carry the hub's as `<namespace>roles` etc.
  const hub = (name: string): unknown => (claimsNamespace && payload[`${claimsNamespace}${name}`] !== undefined ? payload[`${claimsNamespace}${name}`] : payload[name])
  const claims: Record<string, unknown> = { ...payload, tenant_id: hub('tenant_id'), roles: hub('roles'), venue_ids: hub('venue_ids') }
  const roles = Array.isArray(claims.roles) ? (claims.roles.filter((r) => r === 'admin' || r === 'manager' || r === 'viewer') as Role[]) : []
  return {
    token,
    userId: String(claims.sub ?? ''),
    tenantId: String(claims.tenant_id ?? ''),
    roles,
    venueIds: Array.isArray(claims.venue_ids) ? claims.venue_ids.map(String) : null,
    label: label ?? String(claims.name ?? claims.email ?? claims.sub ?? 'signed in'),
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + 3600_000,
  }
}

export function setSession(next: Session | null): void {
  session = next
  for (const listener of listeners) listener()
}

export const getSession = (): Session | null => (session && session.expiresAt > Date.now() ? session : null)
export const currentToken = (): string | null => getSession()?.token ?? null
/** Ends the session here; returns its ID token, if any, for ending it at the OpenID provider too. */
export function signOut(): string | null {
  const idToken = session?.idToken ?? null
  setSession(null)
  return idToken
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export const isAdmin = (s: Session | null): boolean => Boolean(s?.roles.includes('admin'))

/** Writes in a venue: admins anywhere, managers in their venues; viewers never. */
export function canManage(s: Session | null, venueId?: string): boolean {
  if (!s) return false
  if (s.roles.includes('admin')) return true
  if (!s.roles.includes('manager')) return false
  return venueId === undefined || (s.venueIds ?? []).includes(venueId.toLowerCase())
}
