// The refusals of the reconciliation API, each with its stable code (mapped to problem+json by the
// kit's error handler like every AppError).
import { BadRequestError, ConflictError, NotFoundError, ServiceUnavailableError } from '@hub/contracts'

export class ReconciliationRunNotFoundError extends NotFoundError {
  constructor() {
    super('RECONCILIATION_RUN_NOT_FOUND', 'No reconciliation run with this id.')
  }
}

export class ReconciliationConnectionNotFoundError extends NotFoundError {
  constructor(what = 'This venue has no connection to that provider.') {
    super('CONNECTION_NOT_FOUND', what)
  }
}

export class ReconciliationAlreadyRunningError extends ConflictError {
  constructor(entities: string[]) {
    super('RECONCILIATION_ALREADY_RUNNING', `A reconciliation of ${entities.join(', ')} is already queued or running for this connection.`, { entities })
  }
}

export class ReconciliationEntityNotSupportedError extends BadRequestError {
  constructor(provider: string, entity: string) {
    super('ENTITY_NOT_SUPPORTED', `${provider} does not provide ${entity} records.`)
  }
}

export class InvalidPeriodError extends BadRequestError {
  constructor() {
    super('INVALID_PERIOD', 'A period needs `from` before `to`.')
  }
}

export class InvalidTimezoneError extends BadRequestError {
  constructor(timezone: string) {
    super('INVALID_TIMEZONE', `"${timezone.slice(0, 64)}" is not an IANA time zone.`)
  }
}

export class RunNotRepairableError extends ConflictError {
  constructor(status: string, mode: string) {
    super('RUN_NOT_REPAIRABLE', `Only a finished full run that found drift can be repaired (this one is a ${mode} run, ${status}).`)
  }
}

export class ReconciliationBusyError extends ConflictError {
  constructor() {
    super('RECONCILIATION_BUSY', 'A sync or another reconciliation of this connection and entity is running; try again when it has finished.')
  }
}

export class ReconciliationQueueUnavailableError extends ServiceUnavailableError {
  constructor() {
    super('QUEUE_UNAVAILABLE', 'The job queue is unavailable; the run is recorded and will be picked up when it is back.')
  }
}

export class VenueLookupUnavailableError extends ServiceUnavailableError {
  constructor() {
    super('VENUE_LOOKUP_UNAVAILABLE', "The venue's time zone could not be looked up; pass `timezone` or try again.")
  }
}
