// The canonical model every adapter maps into. Entity names are the ones the public API uses;
// the provider's raw record always travels beside the canonical one.
export const PROVIDERS = ['stripe', 'square', 'mailchimp', 'quickbooks'] as const
export type ProviderName = (typeof PROVIDERS)[number]

export const ENTITIES = ['customer', 'payment', 'product', 'invoice', 'contact'] as const
export type EntityName = (typeof ENTITIES)[number]

export interface CanonicalCustomer {
  email: string | null
  givenName: string | null
  familyName: string | null
  phone: string | null
  companyName: string | null
  createdAt: string | null
}

export interface CanonicalPayment {
  /** Integer minor units. */
  amount: number
  currency: string
  status: string
  customerExternalId: string | null
  createdAt: string | null
}

export interface CanonicalProduct {
  name: string
  description: string | null
  active: boolean
  /** Integer minor units, when the provider carries a single price. */
  unitAmount: number | null
  currency: string | null
}

export interface CanonicalInvoice {
  number: string | null
  customerExternalId: string | null
  /** Integer minor units. */
  total: number
  currency: string
  status: string
  dueDate: string | null
}

export interface CanonicalContact {
  email: string
  givenName: string | null
  familyName: string | null
  status: string
  listId: string
}

export interface CanonicalByEntity {
  customer: CanonicalCustomer
  payment: CanonicalPayment
  product: CanonicalProduct
  invoice: CanonicalInvoice
  contact: CanonicalContact
}

export interface CanonicalRecord<E extends EntityName = EntityName> {
  entity: E
  externalId: string
  data: CanonicalByEntity[E]
  /** The provider's record exactly as received. */
  raw: unknown
  /** The provider's last-change time when it has one (ISO 8601). */
  updatedAt: string | null
}
