import { fileURLToPath } from 'node:url'
import type { SchemaSpec } from '@hub/service-kit'

/** compliance-service owns the `compliance` schema and runs as `hub_compliance`. */
export const COMPLIANCE_SCHEMA: SchemaSpec = {
  schema: 'compliance',
  appRole: 'hub_compliance',
  directory: fileURLToPath(new URL('../../migrations', import.meta.url)),
}
