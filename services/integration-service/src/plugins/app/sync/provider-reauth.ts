// A provider that refuses the credentials gets one chance to recover (a token refresh for OAuth)
// before the call is retried. The fresh credentials are copied into the caller's connection in
// place, so every later call of the same run uses them too.
import type { ConnectionContext, ConnectionForSync } from '../connections/connection-context.ts'

/** The `onAuthFailure` of `gate.withRetries` for calls made with `connection`. */
export function reauthOnFailure(connections: Pick<ConnectionContext, 'forSync' | 'onAuthFailure'>, tenantId: string, connectionId: string, connection: ConnectionForSync): () => Promise<boolean> {
  return async () => {
    const recovered = await connections.onAuthFailure(tenantId, connectionId, connection.ctx.credentials.accessToken)
    if (recovered) Object.assign(connection, await connections.forSync(tenantId, connectionId))
    return recovered
  }
}
