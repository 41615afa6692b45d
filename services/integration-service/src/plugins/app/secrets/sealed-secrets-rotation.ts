// Key rotation for every table that keeps AES-GCM envelopes in a `secrets` jsonb column with a
// `min_key_version`: re-encrypts under the newest key in small locked batches (resumable: a rerun
// picks up what is left; idempotent: rows already under the newest key are never touched), and
// the start-up check that refuses to run when a stored envelope's key version left the ring. The
// tables are named by their repositories (CONNECTION_SECRETS, SETTINGS_SECRETS).
import { reencryptSecret, type KeyRing } from '@hub/crypto'
import type { Database } from '@hub/service-kit'

export interface SealedTable {
  table: string
  /** The column the envelopes' associated data was bound to as the row id. */
  rowIdColumn: string
  /** How the start-up error names what it found. */
  label: string
}

const BATCH = 100

export async function assertSealedKeyVersions(db: Pick<Database, 'withSystemScope'>, ring: KeyRing, target: SealedTable): Promise<void> {
  const rows = await db.withSystemScope((trx) => trx(target.table).distinct('min_key_version').whereNotNull('min_key_version'))
  const missing = rows.map((row) => Number(row.min_key_version)).filter((version) => !ring.has(version))
  if (missing.length > 0) {
    throw new Error(`${target.label} are sealed with key version(s) ${missing.join(', ')}, which ENCRYPTION_KEYS does not contain. Put the old key back (and run \`pnpm keys:rotate\`) before removing it.`)
  }
}

export interface RotationProgress {
  done: number
  total: number
}

/** Re-encrypts every envelope of the table under the newest key; returns how many rows changed. */
export async function rotateSealedSecrets(db: Pick<Database, 'withSystemScope'>, ring: KeyRing, target: SealedTable, onProgress: (progress: RotationProgress) => void = () => undefined): Promise<number> {
  const current = ring.currentVersion
  const counted = await db.withSystemScope((trx) => trx(target.table).count<{ count: string }[]>('* as count').where('min_key_version', '<', current))
  const total = Number(counted[0]?.count ?? 0)
  let done = 0
  onProgress({ done, total })
  for (;;) {
    const rotated = await db.withSystemScope(async (trx) => {
      // SKIP LOCKED: two rotations (or a rotation and a live update) never fight over a row.
      const rows = await trx(target.table).select('id', 'tenant_id', `${target.rowIdColumn} as aad_row_id`, 'secrets').where('min_key_version', '<', current).orderBy('id').limit(BATCH).forUpdate().skipLocked()
      for (const row of rows as Array<{ id: string; tenant_id: string; aad_row_id: string; secrets: Record<string, string> }>) {
        const secrets = Object.fromEntries(Object.entries(row.secrets).map(([field, envelope]) => [field, reencryptSecret(ring, envelope, { tenantId: row.tenant_id, rowId: row.aad_row_id, field })]))
        await trx(target.table)
          .where({ id: row.id })
          .update({ secrets: JSON.stringify(secrets), min_key_version: current })
      }
      return rows.length
    })
    if (rotated === 0) break
    done += rotated
    onProgress({ done, total: Math.max(total, done) })
  }
  return done
}
