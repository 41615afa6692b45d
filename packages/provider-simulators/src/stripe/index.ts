export { createStripeSimulator, TEST_MODE_REQUESTS_PER_SECOND, type StripeSimulatorOptions } from './stripe-simulator.ts'
export { signatureHeader as stripeSignatureHeader, EVENT_TYPES as STRIPE_EVENT_TYPES } from './stripe-webhooks.ts'
export { maskKey as maskStripeKey } from './stripe-ids.ts'
export { parseStripeForm, encodeStripeForm } from './stripe-form.ts'
