// Merchants and Locations: the seller behind the token (`/v2/merchants/me`) and its locations.
import type { FastifyInstance } from 'fastify'
import { callerOf, requireScopes } from './square-auth.ts'
import { notFound, squareError } from './square-errors.ts'

export function registerMerchantRoutes(app: FastifyInstance): void {
  app.get('/v2/merchants', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'MERCHANT_PROFILE_READ')
    // The list form names its array `merchant`, singular, as Square does.
    return { merchant: [caller.account.merchant] }
  })

  app.get('/v2/merchants/:merchantId', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'MERCHANT_PROFILE_READ')
    const { merchantId } = request.params as { merchantId: string }
    if (merchantId !== 'me' && merchantId !== caller.account.id) {
      throw squareError(403, 'AUTHENTICATION_ERROR', 'FORBIDDEN', `You are not authorized to access merchant \`${merchantId}\`.`)
    }
    return { merchant: caller.account.merchant }
  })

  app.get('/v2/locations', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'MERCHANT_PROFILE_READ')
    return { locations: caller.account.locations }
  })

  app.get('/v2/locations/:locationId', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'MERCHANT_PROFILE_READ')
    const { locationId } = request.params as { locationId: string }
    const id = locationId === 'main' ? caller.account.merchant.main_location_id : locationId
    const location = caller.account.locations.find((candidate) => candidate.id === id)
    if (!location) throw notFound(`Location with ID \`${locationId}\` not found.`)
    return { location }
  })
}
