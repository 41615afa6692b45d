import { fileURLToPath } from 'node:url'
import type { SchemaSpec } from '@hub/service-kit'

/** integration-service owns the `integration` schema and runs as `hub_integration`. */
export const INTEGRATION_SCHEMA: SchemaSpec = {
  schema: 'integration',
  appRole: 'hub_integration',
  directory: fileURLToPath(new URL('../../migrations', import.meta.url)),
}
