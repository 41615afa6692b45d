// Seals a connection's secrets for the database and opens them for one provider call. Each field
// is its own envelope bound to (tenant, connection, field): copying it to another row or field
// makes it undecryptable. Only masked values ever leave through the API.
import { decryptSecret, encryptSecret, envelopeKeyVersion, maskSecret, type KeyRing } from '@hub/crypto'
import type { ProviderCredentials } from '../../../providers/provider-adapter.ts'

/** Secret fields a connection can hold; everything else about it is not secret. */
export const SECRET_FIELDS = ['apiKey', 'accessToken', 'refreshToken', 'webhookSecret'] as const
export type SecretField = (typeof SECRET_FIELDS)[number]
export type SecretValues = Partial<Record<SecretField, string>>

export interface SealedSecrets {
  secrets: Partial<Record<SecretField, string>>
  masked: Partial<Record<SecretField, string>>
  minKeyVersion: number | null
}

export function createCredentialVault(ring: KeyRing) {
  const aad = (tenantId: string, connectionId: string, field: SecretField) => ({ tenantId, rowId: connectionId, field })

  return {
    ring,
    seal(tenantId: string, connectionId: string, values: SecretValues): SealedSecrets {
      const secrets: SealedSecrets['secrets'] = {}
      const masked: SealedSecrets['masked'] = {}
      for (const field of SECRET_FIELDS) {
        const value = values[field]
        if (value === undefined) continue
        secrets[field] = encryptSecret(ring, value, aad(tenantId, connectionId, field))
        masked[field] = maskSecret(value)
      }
      const versions = Object.values(secrets).map((envelope) => envelopeKeyVersion(envelope))
      return { secrets, masked, minKeyVersion: versions.length > 0 ? Math.min(...versions) : null }
    },

    open(tenantId: string, connectionId: string, secrets: Partial<Record<SecretField, string>>): SecretValues {
      const values: SecretValues = {}
      for (const field of SECRET_FIELDS) {
        const envelope = secrets[field]
        if (envelope !== undefined) values[field] = decryptSecret(ring, envelope, aad(tenantId, connectionId, field))
      }
      return values
    },
  }
}

export type CredentialVault = ReturnType<typeof createCredentialVault>

/** What an adapter needs from the opened secrets plus the connection's non-secret identifiers. */
export function toProviderCredentials(values: SecretValues, identity: { accountId: string | null; provider: string; meta?: { dc?: string } }): ProviderCredentials {
  const credentials: ProviderCredentials = {}
  if (values.apiKey) credentials.apiKey = values.apiKey
  if (values.accessToken) credentials.accessToken = values.accessToken
  if (values.refreshToken) credentials.refreshToken = values.refreshToken
  if (identity.accountId) {
    if (identity.provider === 'quickbooks') credentials.realmId = identity.accountId
    else if (identity.provider === 'stripe' && values.accessToken) credentials.accountId = identity.accountId
  }
  // Mailchimp keys carry their data centre; OAuth connections learnt it from the metadata call.
  const dc = values.apiKey?.match(/-([a-z]{2}\d+)$/)?.[1] ?? identity.meta?.dc
  if (identity.provider === 'mailchimp' && dc) credentials.dc = dc
  return credentials
}
