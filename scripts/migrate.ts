// `pnpm migrate [--rollback]`: creates the database, roles and schemas if needed, then migrates
// every service's schema as the owner role. Needs DATABASE_ADMIN_URL (a user that may create roles).
// Waits for Postgres first (MIGRATE_WAIT_SECONDS, default 60): in Compose and Kubernetes the
// migration often starts while the database is still coming up.
// The kit is imported by path, not as @hub/service-kit: this script is the root package's only
// production code, and the root package has no production dependencies (see scripts/build.mjs).
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureDatabase, isConnectionError, loadDotEnv, migrateSchema, type SchemaSpec } from '../packages/service-kit/src/index.ts'
import { VENUE_SCHEMA } from '../services/venue-service/src/db/schema.ts'
import { INTEGRATION_SCHEMA } from '../services/integration-service/src/db/schema.ts'
import { COMPLIANCE_SCHEMA } from '../services/compliance-service/src/db/schema.ts'

export const SCHEMAS: SchemaSpec[] = [VENUE_SCHEMA, INTEGRATION_SCHEMA, COMPLIANCE_SCHEMA]
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/venue_hub'

/** Retries `run` while Postgres is unreachable or starting up, until `waitMs` has passed. */
export async function whenDatabaseAnswers<T>(run: () => Promise<T>, waitMs: number, log: (line: string) => void = console.log): Promise<T> {
  const deadline = Date.now() + waitMs
  for (let attempt = 1; ; attempt++) {
    try {
      return await run()
    } catch (error) {
      if (!isConnectionError(error) || Date.now() >= deadline) throw error
      log(`  Postgres not reachable yet (${(error as { code?: string }).code ?? (error as Error).message}); retrying`)
      await sleep(Math.min(500 * attempt, 5_000))
    }
  }
}

export async function migrateAll(adminUrl: string, direction: 'latest' | 'rollback' = 'latest', log: (line: string) => void = console.log, waitMs = 0): Promise<void> {
  const server = new URL(adminUrl)
  const database = server.pathname.replace(/^\//, '') || 'venue_hub'
  server.pathname = '/postgres'
  await whenDatabaseAnswers(() => ensureDatabase(server.toString(), database), waitMs, log)
  for (const spec of SCHEMAS) {
    const applied = await migrateSchema(adminUrl, spec, direction)
    log(`  ${spec.schema}: ${applied.length === 0 ? 'up to date' : `${direction === 'rollback' ? 'rolled back' : 'applied'} ${applied.join(', ')}`}`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  loadDotEnv()
  const adminUrl = process.env.DATABASE_ADMIN_URL ?? DEFAULT_ADMIN_URL
  const waitSeconds = Number(process.env.MIGRATE_WAIT_SECONDS ?? 60)
  console.log(`Migrating ${new URL(adminUrl).pathname.slice(1)} on ${new URL(adminUrl).host}`)
  await migrateAll(adminUrl, process.argv.includes('--rollback') ? 'rollback' : 'latest', console.log, Number.isFinite(waitSeconds) ? waitSeconds * 1000 : 60_000)
}
