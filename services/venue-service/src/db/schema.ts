import { fileURLToPath } from 'node:url'
import type { SchemaSpec } from '@hub/service-kit'

/** venue-service owns the `venue` schema and runs as `hub_venue`. */
export const VENUE_SCHEMA: SchemaSpec = {
  schema: 'venue',
  appRole: 'hub_venue',
  directory: fileURLToPath(new URL('../../migrations', import.meta.url)),
}
