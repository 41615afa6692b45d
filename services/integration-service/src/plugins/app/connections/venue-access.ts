import { ForbiddenError } from '@hub/contracts'
import { canManageVenue, canReadVenue, type Principal } from '@hub/service-kit'

/** A manager acting on a venue outside its venue_ids, or a viewer writing. */
export class VenueAccessDeniedError extends ForbiddenError {
  constructor() {
    super('VENUE_ACCESS_DENIED', 'Your role does not allow you to manage integrations of this venue.')
  }
}

export type VenueAccess = 'read' | 'manage'

/**
 * The one rule for every object that belongs to a venue (connections, jobs, runs, records,
 * settings): a caller who may not read the venue gets the object's 404, as if it did not exist;
 * one who may read it but not manage it gets 403 on changes. Reads: any role, limited to
 * `venue_ids` for non-admins that carry them; changes: admins, and managers in their `venue_ids`.
 */
export function assertVenueAccess(principal: Principal, venueId: string, access: VenueAccess, notFound: () => Error, denied: () => Error = () => new VenueAccessDeniedError()): void {
  if (!canReadVenue(principal, venueId)) throw notFound()
  if (access === 'manage' && !canManageVenue(principal, venueId)) throw denied()
}
