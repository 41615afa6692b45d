// `pnpm migrate [--rollback]`: creates the database, roles and schemas if needed, then migrates
// every service's schema as the owner role. Needs DATABASE_ADMIN_URL (a user that may create roles).
import { ensureDatabase, loadDotEnv, migrateSchema, type SchemaSpec } from '@hub/service-kit'
import { VENUE_SCHEMA } from '../services/venue-service/src/db/schema.ts'
import { INTEGRATION_SCHEMA } from '../services/integration-service/src/db/schema.ts'
import { COMPLIANCE_SCHEMA } from '../services/compliance-service/src/db/schema.ts'

export const SCHEMAS: SchemaSpec[] = [VENUE_SCHEMA, INTEGRATION_SCHEMA, COMPLIANCE_SCHEMA]
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/venue_hub'

export async function migrateAll(adminUrl: string, direction: 'latest' | 'rollback' = 'latest', log: (line: string) => void = console.log): Promise<void> {
  const server = new URL(adminUrl)
  const database = server.pathname.replace(/^\//, '') || 'venue_hub'
  server.pathname = '/postgres'
  await ensureDatabase(server.toString(), database)
  for (const spec of SCHEMAS) {
    const applied = await migrateSchema(adminUrl, spec, direction)
    log(`  ${spec.schema}: ${applied.length === 0 ? 'up to date' : `${direction === 'rollback' ? 'rolled back' : 'applied'} ${applied.join(', ')}`}`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  loadDotEnv()
  const adminUrl = process.env.DATABASE_ADMIN_URL ?? DEFAULT_ADMIN_URL
  console.log(`Migrating ${new URL(adminUrl).pathname.slice(1)} on ${new URL(adminUrl).host}`)
  await migrateAll(adminUrl, process.argv.includes('--rollback') ? 'rollback' : 'latest')
}
