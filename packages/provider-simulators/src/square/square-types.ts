// Wire shapes (snake_case, exactly as Square serializes them) for the resources the simulator
// keeps. Index signatures let the control API patch arbitrary fields, as a seller's edits would.
export interface SquareMoney {
  amount: number
  currency: string
}

export interface SquareCustomer {
  id: string
  created_at: string
  updated_at: string
  given_name?: string
  family_name?: string
  company_name?: string
  email_address?: string
  phone_number?: string
  reference_id?: string
  note?: string
  preferences: { email_unsubscribed: boolean }
  creation_source: string
  version: number
  [field: string]: unknown
}

export interface SquarePayment {
  id: string
  created_at: string
  updated_at: string
  amount_money: SquareMoney
  total_money: SquareMoney
  status: string
  location_id: string
  customer_id?: string
  version_token: string
  [field: string]: unknown
}

export interface SquareItemVariation {
  type: 'ITEM_VARIATION'
  id: string
  updated_at: string
  created_at: string
  version: number
  is_deleted: boolean
  present_at_all_locations: boolean
  item_variation_data: {
    item_id: string
    name: string
    ordinal: number
    pricing_type: 'FIXED_PRICING' | 'VARIABLE_PRICING'
    price_money?: SquareMoney
    sellable: boolean
    stockable: boolean
  }
}

export interface SquareCatalogObject {
  type: string
  id: string
  updated_at: string
  created_at: string
  version: number
  is_deleted: boolean
  present_at_all_locations: boolean
  item_data?: {
    name: string
    description?: string
    description_html?: string
    description_plaintext?: string
    is_taxable: boolean
    is_archived: boolean
    product_type: string
    categories?: Array<{ id: string; ordinal: number }>
    reporting_category?: { id: string; ordinal: number }
    variations: SquareItemVariation[]
    [field: string]: unknown
  }
  category_data?: { name: string; category_type: string; is_top_level: boolean }
  [field: string]: unknown
}

export interface SquareLocation {
  id: string
  name: string
  status: 'ACTIVE' | 'INACTIVE'
  merchant_id: string
  created_at: string
  [field: string]: unknown
}

export interface SquareMerchant {
  id: string
  business_name: string
  country: string
  language_code: string
  currency: string
  status: 'ACTIVE' | 'INACTIVE'
  main_location_id: string
  created_at: string
}

export interface SquareWebhookSubscription {
  id: string
  name: string
  enabled: boolean
  event_types: string[]
  notification_url: string
  api_version: string
  signature_key: string
  created_at: string
  updated_at: string
}

export type SquareEntity = 'customer' | 'payment' | 'product'
export const SQUARE_ENTITIES: readonly SquareEntity[] = ['customer', 'payment', 'product']
