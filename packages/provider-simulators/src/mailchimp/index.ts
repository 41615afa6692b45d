export { createMailchimpSimulator } from './mailchimp-simulator.ts'
export type { MailchimpSimulatorOptions } from './mailchimp-simulator.ts'
export { subscriberHash } from './mailchimp-store.ts'
export { WEBHOOK_USER_AGENT } from './mailchimp-webhooks.ts'
