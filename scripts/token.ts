// `pnpm token --tenant <uuid> --role <admin|manager|viewer> [--venue <uuid>]... [--sub <id>] [--ttl <seconds>]`
// Mints a development JWT with the local .env's JWT_SECRET. Refuses to run in production.
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'
import { ROLES, loadDotEnv, mintDevToken, type Role } from '@hub/service-kit'

loadDotEnv()
const { values } = parseArgs({
  options: {
    tenant: { type: 'string' },
    role: { type: 'string', multiple: true },
    venue: { type: 'string', multiple: true },
    sub: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
  },
})

const fail = (message: string): never => {
  console.error(`token: ${message}`)
  process.exit(2)
}
if (process.env.NODE_ENV === 'production') fail('development tokens are not minted in production')
const secret = process.env.JWT_SECRET ?? fail('JWT_SECRET is not set (run `npm start` once to create .env)')
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const tenant = values.tenant ?? randomUUID()
if (!uuid.test(tenant)) fail('--tenant must be a UUID')
const roles = (values.role ?? ['admin']) as Role[]
for (const role of roles) if (!ROLES.includes(role)) fail(`--role must be one of ${ROLES.join(', ')}`)
for (const venue of values.venue ?? []) if (!uuid.test(venue)) fail('--venue must be a UUID')
const ttl = Number(values.ttl)
if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive number of seconds')

console.log(
  mintDevToken({
    secret,
    issuer: process.env.JWT_ISSUER ?? 'venue-hub-dev',
    audience: process.env.JWT_AUDIENCE ?? 'venue-hub',
    tenantId: tenant,
    roles,
    ...(values.venue ? { venueIds: values.venue } : {}),
    sub: values.sub ?? 'dev-user',
    expiresIn: ttl,
  }),
)
