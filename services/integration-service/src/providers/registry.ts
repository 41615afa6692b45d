// Which adapter serves which provider, and where it reaches that provider: the real APIs in
// production, the local simulators in development and tests (the *_API_BASE variables).
import type { ProviderAdapter } from './provider-adapter.ts'
import type { ProviderName } from './canonical.ts'
import { createStripeAdapter } from './stripe/index.ts'
import { createSquareAdapter } from './square/index.ts'
import { createMailchimpAdapter } from './mailchimp/index.ts'
import { createQuickBooksAdapter } from './quickbooks/index.ts'

export interface OAuthClient {
  clientId: string
  clientSecret: string
  /** Host of the provider's authorize/token endpoints (separate from the API host in production). */
  authBaseUrl: string
}

export interface ProviderBinding {
  adapter: ProviderAdapter
  baseUrl: string
  oauth: OAuthClient | null
}

export type ProviderRegistry = Record<ProviderName, ProviderBinding>

export interface RegistryConfig {
  STRIPE_API_BASE: string
  SQUARE_API_BASE: string
  MAILCHIMP_API_BASE: string
  QUICKBOOKS_API_BASE: string
  STRIPE_OAUTH_BASE?: string | undefined
  SQUARE_OAUTH_BASE?: string | undefined
  MAILCHIMP_OAUTH_BASE?: string | undefined
  QUICKBOOKS_OAUTH_BASE?: string | undefined
  STRIPE_CONNECT_CLIENT_ID?: string | undefined
  STRIPE_PLATFORM_SECRET_KEY?: string | undefined
  SQUARE_CLIENT_ID?: string | undefined
  SQUARE_CLIENT_SECRET?: string | undefined
  MAILCHIMP_CLIENT_ID?: string | undefined
  MAILCHIMP_CLIENT_SECRET?: string | undefined
  QUICKBOOKS_CLIENT_ID?: string | undefined
  QUICKBOOKS_CLIENT_SECRET?: string | undefined
  QUICKBOOKS_WEBHOOK_VERIFIER?: string | undefined
}

function oauthClient(clientId: string | undefined, clientSecret: string | undefined, authBaseUrl: string): OAuthClient | null {
  return clientId && clientSecret ? { clientId, clientSecret, authBaseUrl } : null
}

export function createProviderRegistry(config: RegistryConfig, overrides: Partial<Record<ProviderName, ProviderAdapter>> = {}): ProviderRegistry {
  return {
    stripe: {
      adapter: overrides.stripe ?? createStripeAdapter({ defaultRetryAfterMs: 1_000 }),
      baseUrl: config.STRIPE_API_BASE,
      oauth: oauthClient(config.STRIPE_CONNECT_CLIENT_ID, config.STRIPE_PLATFORM_SECRET_KEY, config.STRIPE_OAUTH_BASE ?? config.STRIPE_API_BASE),
    },
    square: {
      adapter: overrides.square ?? createSquareAdapter(),
      baseUrl: config.SQUARE_API_BASE,
      oauth: oauthClient(config.SQUARE_CLIENT_ID, config.SQUARE_CLIENT_SECRET, config.SQUARE_OAUTH_BASE ?? config.SQUARE_API_BASE),
    },
    mailchimp: {
      adapter: overrides.mailchimp ?? createMailchimpAdapter(),
      baseUrl: config.MAILCHIMP_API_BASE,
      oauth: oauthClient(config.MAILCHIMP_CLIENT_ID, config.MAILCHIMP_CLIENT_SECRET, config.MAILCHIMP_OAUTH_BASE ?? config.MAILCHIMP_API_BASE),
    },
    quickbooks: {
      adapter: overrides.quickbooks ?? createQuickBooksAdapter(config.QUICKBOOKS_WEBHOOK_VERIFIER ? { webhookVerifierToken: config.QUICKBOOKS_WEBHOOK_VERIFIER } : {}),
      baseUrl: config.QUICKBOOKS_API_BASE,
      oauth: oauthClient(config.QUICKBOOKS_CLIENT_ID, config.QUICKBOOKS_CLIENT_SECRET, config.QUICKBOOKS_OAUTH_BASE ?? config.QUICKBOOKS_API_BASE),
    },
  }
}
