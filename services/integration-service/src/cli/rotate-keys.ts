// `pnpm keys:rotate`: re-encrypts every stored secret under the newest key in ENCRYPTION_KEYS.
// Safe to interrupt and rerun; prints progress. Afterwards the old key can leave the ring.
import { KeyRing } from '@hub/crypto'
import { createDatabase, createKnex, loadDotEnv, systemRoleOf } from '@hub/service-kit'
import { rotateConnectionSecrets } from '../plugins/app/secrets/connection-key-rotation.ts'
import { rotateSettingsSecrets } from '../plugins/app/secrets/settings-key-rotation.ts'
import { rotateSealedSecrets } from '../plugins/app/secrets/sealed-secrets-rotation.ts'
import { WEBHOOK_ENDPOINT_SECRETS } from '../plugins/app/outbound-webhooks/outbound-webhook-repository.ts'
import { INTEGRATION_SCHEMA } from '../db/schema.ts'

loadDotEnv()
function databaseUrl(): string {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL
  const url = new URL(process.env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/venue_hub')
  url.username = INTEGRATION_SCHEMA.appRole
  url.password = ''
  return url.toString()
}

const ring = KeyRing.fromEnv(process.env.ENCRYPTION_KEYS)
const knex = createKnex(databaseUrl(), { poolMax: 2, applicationName: 'keys-rotate' })
const bar = (done: number, total: number) => {
  const width = 30
  const filled = total === 0 ? width : Math.round((done / total) * width)
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`
}
try {
  console.log(`Re-encrypting stored secrets under key version ${ring.currentVersion}`)
  const db = createDatabase(knex, { systemRole: systemRoleOf(INTEGRATION_SCHEMA.appRole) })
  let rotated = 0
  for (const [label, rotate] of [
    ['connections', rotateConnectionSecrets],
    ['settings   ', rotateSettingsSecrets],
    ['webhooks   ', (database: typeof db, keys: KeyRing, onProgress: Parameters<typeof rotateSettingsSecrets>[2]) => rotateSealedSecrets(database, keys, WEBHOOK_ENDPOINT_SECRETS, onProgress)],
  ] as const) {
    rotated += await rotate(db, ring, ({ done, total }) => {
      process.stdout.write(`\r  ${label} ${bar(done, total)}`)
    })
    process.stdout.write('\n')
  }
  console.log(`Done: ${rotated} row(s) re-encrypted. Older key versions can now be removed from ENCRYPTION_KEYS.`)
} finally {
  await knex.destroy()
}
