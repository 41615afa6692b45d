import { ForbiddenError } from '@hub/contracts'

/** A manager acting on a venue outside its venue_ids, or a viewer writing. */
export class VenueAccessDeniedError extends ForbiddenError {
  constructor() {
    super('VENUE_ACCESS_DENIED', 'Your role does not allow you to manage integrations of this venue.')
  }
}
