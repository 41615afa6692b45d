// One SDK client per call context, pointed at the context's base URL. Never shared: two
// connections (two keys, or one platform key acting for two connected accounts) may sync at once.
import Stripe from 'stripe'
import type { ProviderContext } from '../provider-adapter.ts'
import { ProviderAuthError } from '../provider-errors.ts'

type StripeConfig = NonNullable<ConstructorParameters<typeof Stripe>[1]>

export interface StripeClientOptions {
  /** Per-request timeout; the SDK reports it as a StripeConnectionError. */
  timeoutMs: number
}

/** SDK config for a base URL such as `http://127.0.0.1:12111` or `https://api.stripe.com`. */
export function sdkConfig(baseUrl: string, options: StripeClientOptions, stripeAccount?: string): StripeConfig {
  const url = new URL(baseUrl)
  const protocol = url.protocol === 'http:' ? 'http' : 'https'
  const config: StripeConfig = {
    host: url.hostname,
    port: url.port || (protocol === 'http' ? 80 : 443),
    protocol,
    // The sync engine owns retries and backoff; the SDK must not add its own on top.
    maxNetworkRetries: 0,
    timeout: options.timeoutMs,
    telemetry: false,
    appInfo: { name: 'venue-integration-hub' },
  }
  if (stripeAccount) config.stripeAccount = stripeAccount
  // The SDK always requests `/v1/...` from the host root; a base URL with a path (a simulator
  // mounted under a prefix) needs the prefix put back on every request.
  const prefix = url.pathname.replace(/\/+$/, '')
  if (prefix) {
    const inner = Stripe.createNodeHttpClient()
    config.httpClient = {
      getClientName: () => inner.getClientName(),
      makeRequest: (host, port, path, method, headers, body, requestProtocol, timeout) => inner.makeRequest(host, port, `${prefix}${path}`, method, headers, body, requestProtocol, timeout),
    }
  }
  return config
}

/**
 * Client for a connection. A secret key with an account id is a Connect platform acting for
 * that connected account (`Stripe-Account`); an OAuth access token already is the account.
 */
export function stripeClient(ctx: ProviderContext, options: StripeClientOptions): Stripe {
  const { apiKey, accessToken, accountId } = ctx.credentials
  const key = apiKey ?? accessToken
  if (!key) throw new ProviderAuthError('stripe', 'No Stripe secret key or access token in the credentials')
  return new Stripe(key, sdkConfig(ctx.baseUrl, options, apiKey && accountId ? accountId : undefined))
}
