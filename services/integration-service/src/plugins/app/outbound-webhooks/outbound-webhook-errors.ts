import { BadRequestError, ConflictError, NotFoundError } from '@hub/contracts'
import type { UrlRefusedError } from './url-guard.ts'

export class WebhookEndpointNotFoundError extends NotFoundError {
  constructor() {
    super('WEBHOOK_ENDPOINT_NOT_FOUND', 'No webhook endpoint with this id.')
  }
}

export class WebhookMessageNotFoundError extends NotFoundError {
  constructor() {
    super('WEBHOOK_MESSAGE_NOT_FOUND', 'This endpoint has no message with this id.')
  }
}

const REFUSAL_DETAIL: Record<UrlRefusedError['reason'], string> = {
  invalid_url: 'The URL cannot be parsed.',
  scheme: 'Only http and https URLs can receive webhooks.',
  credentials_in_url: 'The URL must not carry a user name or password; verify our signature instead.',
  unresolvable: 'The host name does not resolve.',
  blocked_address: 'The URL resolves to a private, loopback, link-local or otherwise non-public address.',
}

/** Registration refused: the URL would make the hub call somewhere it must not (or nowhere). */
export class WebhookUrlRefusedError extends BadRequestError {
  constructor(refusal: UrlRefusedError) {
    super('WEBHOOK_URL_REFUSED', REFUSAL_DETAIL[refusal.reason], { reason: refusal.reason, errors: [{ path: '/body/url', message: REFUSAL_DETAIL[refusal.reason] }] })
  }
}

export class WebhookEndpointDisabledError extends ConflictError {
  constructor() {
    super('WEBHOOK_ENDPOINT_DISABLED', 'The endpoint is disabled; enable it (PATCH enabled: true) before sending to it.')
  }
}
