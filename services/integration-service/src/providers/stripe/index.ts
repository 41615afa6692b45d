export { createStripeAdapter, STRIPE_WEBHOOK_EVENTS, type StripeAdapterOptions } from './stripe-adapter.ts'
export { verifyStripeWebhook, eventSubject as stripeEventSubject } from './stripe-webhooks.ts'
export { decodeCursor as decodeStripeCursor, encodeCursor as encodeStripeCursor, type StripeCursor } from './stripe-cursor.ts'
export { toProviderError as toStripeProviderError, DEFAULT_RETRY_AFTER_MS as STRIPE_DEFAULT_RETRY_AFTER_MS } from './stripe-errors.ts'
