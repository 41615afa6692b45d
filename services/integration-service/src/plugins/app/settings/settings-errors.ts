import { AppError, BadRequestError, ConflictError, ForbiddenError, NotFoundError, type ValidationIssue } from '@hub/contracts'
import { INTEGRATION_TYPES } from './settings-registry.ts'

export class IntegrationTypeNotFoundError extends NotFoundError {
  constructor() {
    super('INTEGRATION_TYPE_NOT_FOUND', `No settings exist for this integration type; known types: ${INTEGRATION_TYPES.join(', ')}.`)
  }
}

/** Unknown keys or wrong types: nothing was stored. Same code as a request that fails its route schema. */
export class SettingsInvalidError extends BadRequestError {
  constructor(errors: ValidationIssue[]) {
    super('VALIDATION_FAILED', `The settings are invalid: ${errors.map((issue) => `${issue.path} ${issue.message}`).join('; ')}`, { errors })
  }
}

export class SettingsVersionConflictError extends ConflictError {
  constructor(expected: number, current: number) {
    super('SETTINGS_VERSION_CONFLICT', `The settings changed since version ${expected}; they are now at version ${current}. Re-read them and retry.`, { currentVersion: current })
  }
}

export class SettingsVersionNotFoundError extends NotFoundError {
  constructor(version: number) {
    super('SETTINGS_VERSION_NOT_FOUND', `These settings have no version ${version}.`)
  }
}

export class SecretSettingNotFoundError extends NotFoundError {
  constructor() {
    super('SECRET_SETTING_NOT_SET', 'This secret setting is not set at this scope.')
  }
}

export class NotASecretSettingError extends BadRequestError {
  constructor(key: string) {
    super('NOT_A_SECRET_SETTING', `"${key}" is not a secret setting of this integration type; read it from the settings document.`)
  }
}

export class InvalidPreconditionError extends BadRequestError {
  constructor(detail: string) {
    super('INVALID_PRECONDITION', detail)
  }
}

export class ImportTypeMismatchError extends BadRequestError {
  constructor(fileType: string, target: string) {
    super('IMPORT_TYPE_MISMATCH', `The file holds ${fileType} settings; it cannot be imported as ${target} settings.`, { errors: [{ path: '/body/type', message: `must be ${target}` }] })
  }
}

/** A manager outside its venue_ids, a viewer writing, or a non-admin touching tenant-wide settings. */
export class SettingsAccessDeniedError extends ForbiddenError {
  constructor(detail: string) {
    super('SETTINGS_ACCESS_DENIED', detail)
  }
}

export class SettingsRateLimitedError extends AppError {
  constructor(detail: string) {
    super(429, 'RATE_LIMITED', 'Too Many Requests', detail)
  }
}
