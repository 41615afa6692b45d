import { AppError, BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '@hub/contracts'

export class ConnectionNotFoundError extends NotFoundError {
  constructor() {
    super('CONNECTION_NOT_FOUND', 'No connection with this id exists in your tenant.')
  }
}

export class VenueNotFoundError extends NotFoundError {
  constructor() {
    super('VENUE_NOT_FOUND', 'No venue with this id exists in your tenant.')
  }
}

export class MalformedCredentialsError extends BadRequestError {
  constructor(provider: string) {
    super('CREDENTIALS_MALFORMED', `The API key does not look like a ${provider} key.`, { errors: [{ path: '/body/credentials/apiKey', message: `is not a ${provider} API key` }] })
  }
}

export class OAuthRequiredError extends BadRequestError {
  constructor(provider: string) {
    super('OAUTH_REQUIRED', `${provider} connects through OAuth only: use /api/v1/integrations/oauth/${provider}/authorize.`)
  }
}

/** The provider refused the credentials: nothing was stored. */
export class CredentialsRejectedError extends AppError {
  constructor(provider: string) {
    super(422, 'CREDENTIALS_REJECTED', 'Unprocessable Content', `${provider} refused these credentials.`)
  }
}

export class ProviderUnreachableError extends AppError {
  constructor(provider: string, detail = 'is unavailable right now; retry shortly') {
    super(503, 'PROVIDER_UNAVAILABLE', 'Service Unavailable', `${provider} ${detail}.`)
  }
}

export class AlreadyConnectedError extends ConflictError {
  constructor(provider: string) {
    super('ALREADY_CONNECTED', `This venue already has a ${provider} connection; update or disconnect it first.`)
  }
}

export class ConnectionDisconnectedError extends ConflictError {
  constructor() {
    super('CONNECTION_DISCONNECTED', 'This connection is disconnected; create a new one.')
  }
}

/** The callback came back in a browser that did not start the flow (no or another binding cookie). */
export class OAuthBrowserMismatchError extends ForbiddenError {
  constructor() {
    super('OAUTH_BROWSER_MISMATCH', 'This sign-in was not started in this browser; start connecting again from the hub.')
  }
}

export class OAuthNotConfiguredError extends BadRequestError {
  constructor(provider: string) {
    super('OAUTH_NOT_CONFIGURED', `OAuth is not configured for ${provider} on this hub.`)
  }
}
