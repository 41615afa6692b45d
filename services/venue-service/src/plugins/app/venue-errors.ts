import { AppError, BadRequestError, ConflictError, ForbiddenError, NotFoundError, ServiceUnavailableError } from '@hub/contracts'

export class VenueNotFoundError extends NotFoundError {
  constructor() {
    super('VENUE_NOT_FOUND', 'No venue with this id exists in your tenant.')
  }
}

export class VenueSlugTakenError extends ConflictError {
  constructor(slug: string) {
    super('VENUE_SLUG_TAKEN', `Another venue in your tenant already uses the slug "${slug}".`)
  }
}

/** An archived venue is read-only until it is restored (restore and delete still work). */
export class VenueArchivedError extends ConflictError {
  constructor(action: string) {
    super('VENUE_ARCHIVED', `This venue is archived: restore it before you ${action} it.`)
  }
}

export class InvalidCurrencyError extends BadRequestError {
  constructor(currency: string) {
    super('INVALID_CURRENCY', `"${currency.slice(0, 8)}" is not an ISO 4217 currency code.`, { errors: [{ path: '/body/currency', message: 'must be an ISO 4217 currency code' }] })
  }
}

export class InvalidTimezoneError extends BadRequestError {
  constructor(timezone: string) {
    super('INVALID_TIMEZONE', `"${timezone.slice(0, 64)}" is not an IANA time zone.`, { errors: [{ path: '/body/timezone', message: 'must be an IANA time zone' }] })
  }
}

export class VenueAccessDeniedError extends ForbiddenError {
  constructor(action: string) {
    super('VENUE_ACCESS_DENIED', `Your role does not allow you to ${action} this venue.`)
  }
}

export class MemberNotFoundError extends NotFoundError {
  constructor() {
    super('MEMBER_NOT_FOUND', 'This user is not a member of the venue.')
  }
}

export class IntegrationsUnavailableError extends ServiceUnavailableError {
  constructor() {
    super('INTEGRATIONS_UNAVAILABLE', "The venue's provider connections could not be disconnected, so it was not deleted; retry shortly.")
  }
}

export { AppError }
