// A stand-in venue-service for tests of its callers. integration-service asks it whether a venue
// exists in a tenant (`GET /internal/venues/:id`, the @hub/contracts InternalVenue contract); the
// gateway forwards users' venue calls to it (the public /api/v1/venues routes, bearer-verified as
// the real service does, with the real service's @hub/contracts schemas). Venues are kept in
// memory; `removeVenue` is a venue gone.
import { randomUUID } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import { Value } from '@sinclair/typebox/value'
import {
  CreateVenueBody,
  INTERNAL_PERMISSIONS,
  InternalVenueParams,
  InternalVenueQuery,
  InternalVenueSchema,
  ForbiddenError,
  ListVenuesQuery,
  NotFoundError,
  ProblemSchema,
  UnauthorizedError,
  VenuePageSchema,
  VenueParams,
  VenueSchema,
  type InternalVenue,
  type Venue,
} from '@hub/contracts'
import { ClaimsSchema, type Claims } from '../../plugins/auth.ts'
import { TEST_JWT } from '../index.ts'
import { createFakeService, type FakeService } from './fake-service.ts'

/** The real venue-service's permission table (services/venue-service/src/app.ts). */
export const VENUE_SERVICE_PERMISSIONS = { 'integration-service': [INTERNAL_PERMISSIONS.venuesRead] } as const

const Problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema }

export interface FakeVenueService extends FakeService {
  /** Adds a venue of `tenantId` (active unless said otherwise) and returns its id. */
  addVenue(tenantId: string, venue?: Partial<Omit<Venue, 'tenantId'>>): string
  /** The venue is gone: later lookups answer 404. */
  removeVenue(id: string): void
  venues: ReadonlyMap<string, Venue>
}

export async function createFakeVenueService(options: { redisPrefix: string; jwt?: { secret: string; issuer: string; audience: string } }): Promise<FakeVenueService> {
  const venues = new Map<string, Venue>()
  const jwt = options.jwt ?? TEST_JWT
  const verify = createVerifier({ key: jwt.secret, algorithms: ['HS256'], allowedIss: jwt.issuer, allowedAud: jwt.audience, requiredClaims: ['exp', 'iat', 'iss', 'aud'] })
  const principalOf = (authorization: string | undefined): Claims => {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined
    if (!token) throw new UnauthorizedError('AUTH_TOKEN_MISSING', 'A bearer token is required.')
    try {
      const claims: unknown = verify(token)
      if (!Value.Check(ClaimsSchema, claims)) throw new Error('the token lacks required claims')
      return claims
    } catch {
      throw new UnauthorizedError('AUTH_TOKEN_INVALID', 'The token is not valid.')
    }
  }
  const addVenue: FakeVenueService['addVenue'] = (tenantId, venue = {}) => {
    const id = venue.id ?? randomUUID()
    const now = new Date().toISOString()
    venues.set(id, {
      id,
      tenantId,
      name: venue.name ?? `Venue ${id.slice(0, 8)}`,
      slug: venue.slug ?? `venue-${id.slice(0, 8)}`,
      status: venue.status ?? 'active',
      timezone: venue.timezone ?? 'Europe/London',
      currency: venue.currency ?? 'GBP',
      address: venue.address ?? null,
      capacity: venue.capacity ?? null,
      createdBy: venue.createdBy ?? 'fake-venue-service',
      createdAt: venue.createdAt ?? now,
      updatedAt: venue.updatedAt ?? now,
      archivedAt: venue.archivedAt ?? (venue.status === 'archived' ? now : null),
    })
    return id
  }
  const inTenant = (tenantId: string, id: string) => {
    const venue = venues.get(id.toLowerCase())
    if (!venue || venue.tenantId !== tenantId.toLowerCase()) throw new NotFoundError('VENUE_NOT_FOUND', 'No such venue.')
    return venue
  }

  const service = await createFakeService({
    service: 'venue-service',
    permissions: VENUE_SERVICE_PERMISSIONS,
    redisPrefix: options.redisPrefix,
    routes: (app) => {
      app.get('/ready', async () => ({ status: 'ready' }))
      app.get('/openapi.json', async () => ({ openapi: '3.1.0', info: { title: 'venue-service (fake)', version: '1' }, paths: { '/api/v1/venues': { get: {}, post: {} }, '/api/v1/venues/{id}': { get: {} } } }))
      app.get(
        '/internal/venues/:id',
        { schema: { params: InternalVenueParams, querystring: InternalVenueQuery, response: { 200: InternalVenueSchema, ...Problems } }, config: { internalAuth: { permission: INTERNAL_PERMISSIONS.venuesRead } } },
        async (request): Promise<InternalVenue> => {
          const { id, tenantId, name, slug, status, timezone, currency } = inTenant(request.query.tenantId, request.params.id)
          return { id, tenantId, name, slug, status, timezone, currency }
        },
      )
      // One page of the tenant's venues, filtered as asked: no sorting or cursors.
      app.get('/api/v1/venues', { schema: { querystring: ListVenuesQuery, response: { 200: VenuePageSchema, ...Problems } } }, async (request) => {
        const claims = principalOf(request.headers.authorization)
        const { status, currency } = request.query
        const data = [...venues.values()].filter((venue) => venue.tenantId === claims.tenant_id && (!status || venue.status === status) && (!currency || venue.currency === currency))
        return { data, nextCursor: null }
      })
      app.get('/api/v1/venues/:id', { schema: { params: VenueParams, response: { 200: VenueSchema, ...Problems } } }, async (request) => inTenant(principalOf(request.headers.authorization).tenant_id, request.params.id))
      app.post('/api/v1/venues', { schema: { body: CreateVenueBody, response: { 201: VenueSchema, ...Problems } } }, async (request, reply) => {
        const claims = principalOf(request.headers.authorization)
        if (!claims.roles.includes('admin')) throw new ForbiddenError('INSUFFICIENT_ROLE', 'This action needs one of the roles: admin.')
        const { name, timezone, currency, slug, address, capacity } = request.body
        const id = addVenue(claims.tenant_id, { name, timezone, currency, createdBy: claims.sub, ...(slug ? { slug } : {}), ...(address ? { address } : {}), ...(capacity !== undefined ? { capacity } : {}) })
        return reply.code(201).send(inTenant(claims.tenant_id, id))
      })
    },
  })
  return Object.assign(service, { addVenue, removeVenue: (id: string) => void venues.delete(id.toLowerCase()), venues })
}
