// Data access for OAuth states: one row per authorization flow, single-use. Knex and nothing else.
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { ProviderName } from '../../../providers/canonical.ts'

export interface StateRow {
  id: string
  state_hash: string
  tenant_id: string
  venue_id: string
  user_id: string
  provider: ProviderName
  code_verifier: string | null
  redirect_uri: string
  expires_at: Date
  used_at: Date | null
  browser_binding_hash: string | null
}

const table = (trx: Knex.Transaction) => trx<StateRow>(INTEGRATION_TABLES.oauthStates)

export function createOAuthStateRepository() {
  return {
    async insert(trx: Knex.Transaction, row: Omit<StateRow, 'used_at'>): Promise<void> {
      await table(trx).insert(row)
    },

    /** The unused state with this hash, across tenants (system scope: the callback knows no tenant). */
    async findPending(trx: Knex.Transaction, stateHash: string, provider: ProviderName): Promise<StateRow | undefined> {
      return (await table(trx).where({ state_hash: stateHash, provider }).whereNull('used_at').first()) as StateRow | undefined
    },

    /**
     * Deletes at most `limit` states that expired before `before`, used or not (system scope): a
     * state is worth nothing once expired, and each keeps a user id and a sealed PKCE verifier.
     */
    async purgeExpired(trx: Knex.Transaction, before: Date, limit: number): Promise<number> {
      const result = await trx.raw(`delete from ${INTEGRATION_TABLES.oauthStates} where ctid = any(array(select ctid from ${INTEGRATION_TABLES.oauthStates} where expires_at < ? limit ?))`, [before, limit])
      return (result as { rowCount: number }).rowCount
    },

    /** Marks the state used in one statement, so a replay (even a concurrent one) finds it used. */
    async claim(trx: Knex.Transaction, stateHash: string, provider: ProviderName, usedAt: Date): Promise<StateRow | null> {
      const [row] = (await table(trx).where({ state_hash: stateHash, provider }).whereNull('used_at').update({ used_at: usedAt }).returning('*')) as StateRow[]
      return row ?? null
    },
  }
}

export type OAuthStateRepository = ReturnType<typeof createOAuthStateRepository>
