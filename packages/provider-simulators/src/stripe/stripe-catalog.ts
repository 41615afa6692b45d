// Customers, products and prices: the operations behind both the /v1 routes and the control API,
// so a change made either way looks the same (same objects, same events).
import { previousAttributes } from './stripe-diff.ts'
import { invalidRequest, missingParam, noSuch } from './stripe-errors.ts'
import { newId } from './stripe-ids.ts'
import { NULL_ADDRESS, customerObject, priceObject, productObject, type Address, type CustomerObject, type PriceObject, type ProductObject } from './stripe-objects.ts'
import { applyMetadata, asParams, checkKnown, optBool, optCurrency, optEmail, optInt, optNullableString, optString, type Params } from './stripe-params.ts'
import { nowSeconds, type RequestOrigin, type SimAccount, type StripeState } from './stripe-state.ts'

type Origin = RequestOrigin | null

const CUSTOMER_PARAMS = [
  'address',
  'balance',
  'business_name',
  'individual_name',
  'cash_balance',
  'coupon',
  'description',
  'email',
  'expand',
  'invoice_prefix',
  'invoice_settings',
  'metadata',
  'name',
  'next_invoice_sequence',
  'payment_method',
  'phone',
  'preferred_locales',
  'promotion_code',
  'shipping',
  'source',
  'tax',
  'tax_exempt',
  'tax_id_data',
  'test_clock',
  'validate',
  'default_source',
]

function optAddress(params: Params, name: string, current: Address | null): Address | null {
  const value = params[name]
  if (value === undefined) return current
  if (value === '' || value === null) return null
  const fields = asParams(value)
  checkKnown(fields, Object.keys(NULL_ADDRESS))
  const next: Address = { ...(current ?? NULL_ADDRESS) }
  for (const key of Object.keys(NULL_ADDRESS) as Array<keyof Address>) {
    const field = optNullableString(fields, key)
    if (field !== undefined) next[key] = field
  }
  return next
}

/** `business_name` / `individual_name` are absent from the object until set; '' removes them. */
function applyOptionalName(target: CustomerObject, params: Params, name: 'business_name' | 'individual_name'): void {
  const value = optNullableString(params, name)
  if (value === undefined) return
  checkLength(value, name, 150)
  if (value === null) delete target[name]
  else target[name] = value
}

function checkLength(value: string | null | undefined, param: string, max: number): void {
  if (value && value.length > max) throw invalidRequest(`Invalid string: ${value.slice(0, 20)}...; must be at most ${max} characters`, { param, code: 'parameter_invalid_string_too_long' })
}

export function createCustomer(state: StripeState, account: SimAccount, params: Params, origin: Origin): CustomerObject {
  checkKnown(params, CUSTOMER_PARAMS)
  const name = optNullableString(params, 'name') ?? null
  checkLength(name, 'name', 256)
  const customer = customerObject({
    id: newId(account.rng, 'cus'),
    created: nowSeconds(),
    email: optEmail(params, 'email') ?? null,
    name,
    phone: optNullableString(params, 'phone') ?? null,
    description: optNullableString(params, 'description') ?? null,
    address: optAddress(params, 'address', null),
    metadata: applyMetadata({}, params.metadata),
    invoicePrefix: account.rng.alnum(8).toUpperCase(),
  })
  applyOptionalName(customer, params, 'business_name')
  applyOptionalName(customer, params, 'individual_name')
  account.customers.insert(customer)
  state.emit(account, 'customer.created', customer, { origin })
  return customer
}

export function liveCustomer(account: SimAccount, id: string, param = 'id'): CustomerObject {
  const customer = account.customers.get(id)
  if (!customer) throw noSuch('customer', id, param)
  return customer
}

export function updateCustomer(state: StripeState, account: SimAccount, id: string, params: Params, origin: Origin): CustomerObject {
  const before = liveCustomer(account, id)
  checkKnown(params, CUSTOMER_PARAMS)
  const after: CustomerObject = structuredClone(before)
  const email = optEmail(params, 'email')
  if (email !== undefined) after.email = email
  const name = optNullableString(params, 'name')
  checkLength(name, 'name', 256)
  if (name !== undefined) after.name = name
  const phone = optNullableString(params, 'phone')
  if (phone !== undefined) after.phone = phone
  const description = optNullableString(params, 'description')
  if (description !== undefined) after.description = description
  applyOptionalName(after, params, 'business_name')
  applyOptionalName(after, params, 'individual_name')
  after.address = optAddress(params, 'address', before.address)
  after.metadata = applyMetadata(before.metadata, params.metadata)
  const previous = previousAttributes(before, after)
  if (!previous) return before
  account.customers.replace(after)
  state.emit(account, 'customer.updated', after, { previous, origin })
  return after
}

export function deleteCustomer(state: StripeState, account: SimAccount, id: string, origin: Origin): Record<string, unknown> {
  const customer = liveCustomer(account, id)
  account.customers.remove(id)
  state.emit(account, 'customer.deleted', customer, { origin })
  return { id, object: 'customer', deleted: true }
}

/** Deleted customers stay retrievable as a stub, as on Stripe. */
export function retrieveCustomer(account: SimAccount, id: string): Record<string, unknown> {
  const customer = account.customers.get(id)
  if (customer) return customer
  if (account.customers.deleted(id)) return { id, object: 'customer', deleted: true }
  throw noSuch('customer', id)
}

const PRODUCT_PARAMS = [
  'active',
  'default_price_data',
  'description',
  'expand',
  'id',
  'images',
  'marketing_features',
  'metadata',
  'name',
  'package_dimensions',
  'shippable',
  'statement_descriptor',
  'tax_code',
  'unit_label',
  'url',
  'type',
  'default_price',
]

function priceFromData(account: SimAccount, productId: string, data: Params, param: string, created: number): PriceObject {
  checkKnown(data, ['currency', 'unit_amount', 'unit_amount_decimal', 'tax_behavior', 'recurring', 'currency_options', 'custom_unit_amount'])
  const currency = optCurrency(data, 'currency')
  if (!currency) throw missingParam(`${param}[currency]`)
  let unitAmount = optInt(data, 'unit_amount', `${param}[unit_amount]`)
  const decimal = optString(data, 'unit_amount_decimal')
  if (unitAmount === undefined && decimal !== undefined) unitAmount = Math.round(Number(decimal))
  if (unitAmount === undefined) throw missingParam(`${param}[unit_amount]`)
  if (unitAmount < 0) throw invalidRequest('This value must be greater than or equal to 0.', { param: `${param}[unit_amount]` })
  return priceObject({ id: newId(account.rng, 'price'), created, product: productId, currency, unitAmount })
}

export function createProduct(state: StripeState, account: SimAccount, params: Params, origin: Origin): ProductObject {
  checkKnown(
    params,
    PRODUCT_PARAMS.filter((name) => name !== 'default_price'),
  )
  const name = optString(params, 'name')
  if (!name) throw missingParam('name')
  const id = optString(params, 'id') ?? newId(account.rng, 'prod')
  if (account.products.get(id)) throw invalidRequest('Product already exists.', { param: 'id', code: 'resource_already_exists' })
  const created = nowSeconds()
  const priceData = params.default_price_data === undefined ? null : asParams(params.default_price_data)
  const price = priceData ? priceFromData(account, id, priceData, 'default_price_data', created) : null
  const product = productObject({
    id,
    created,
    name,
    description: optNullableString(params, 'description') ?? null,
    active: optBool(params, 'active') ?? true,
    defaultPrice: price?.id ?? null,
    metadata: applyMetadata({}, params.metadata),
  })
  account.products.insert(product)
  state.emit(account, 'product.created', product, { origin })
  if (price) {
    account.prices.insert(price)
    state.emit(account, 'price.created', price, { origin })
  }
  return product
}

export function liveProduct(account: SimAccount, id: string, param = 'id'): ProductObject {
  const product = account.products.get(id)
  if (!product) throw noSuch('product', id, param)
  return product
}

export function updateProduct(state: StripeState, account: SimAccount, id: string, params: Params, origin: Origin): ProductObject {
  const before = liveProduct(account, id)
  checkKnown(
    params,
    PRODUCT_PARAMS.filter((name) => name !== 'id' && name !== 'default_price_data' && name !== 'type'),
  )
  const after: ProductObject = structuredClone(before)
  const name = optString(params, 'name')
  if (name === '') throw invalidRequest('You must provide a non-empty name.', { param: 'name' })
  if (name !== undefined) after.name = name
  const description = optNullableString(params, 'description')
  if (description !== undefined) after.description = description
  const active = optBool(params, 'active')
  if (active !== undefined) after.active = active
  const defaultPrice = optNullableString(params, 'default_price')
  if (defaultPrice) {
    const price = account.prices.get(defaultPrice)
    if (!price) throw noSuch('price', defaultPrice, 'default_price')
    if (price.product !== id) throw invalidRequest(`The price \`${defaultPrice}\` does not belong to product \`${id}\`.`, { param: 'default_price' })
    if (!price.active) throw invalidRequest('The default price must be active.', { param: 'default_price' })
  }
  if (defaultPrice !== undefined) after.default_price = defaultPrice
  after.metadata = applyMetadata(before.metadata, params.metadata)
  after.updated = nowSeconds()
  const previous = previousAttributes(before, after)
  if (!previous) return before
  account.products.replace(after)
  state.emit(account, 'product.updated', after, { previous, origin })
  return after
}

/**
 * Deletes a product. The API refuses while prices exist (as Stripe does); the control API forces
 * it, standing in for the archive-and-purge a real account would go through.
 */
export function deleteProduct(state: StripeState, account: SimAccount, id: string, origin: Origin, force = false): Record<string, unknown> {
  const product = liveProduct(account, id)
  const prices = account.prices.all().filter((price) => price.product === id)
  if (prices.length > 0 && !force) {
    throw invalidRequest('This product cannot be deleted because it has one or more user-created prices.', { code: 'product_has_prices' })
  }
  for (const price of prices) account.prices.remove(price.id)
  account.products.remove(id)
  state.emit(account, 'product.deleted', product, { origin })
  return { id, object: 'product', deleted: true }
}

const PRICE_CREATE_PARAMS = [
  'active',
  'billing_scheme',
  'currency',
  'currency_options',
  'custom_unit_amount',
  'expand',
  'lookup_key',
  'metadata',
  'nickname',
  'product',
  'product_data',
  'recurring',
  'tax_behavior',
  'tiers',
  'tiers_mode',
  'transfer_lookup_key',
  'transform_quantity',
  'unit_amount',
  'unit_amount_decimal',
]

export function createPrice(state: StripeState, account: SimAccount, params: Params, origin: Origin): PriceObject {
  checkKnown(params, PRICE_CREATE_PARAMS)
  const currency = optCurrency(params, 'currency')
  if (!currency) throw missingParam('currency')
  const productId = optString(params, 'product')
  const productData = params.product_data === undefined ? null : asParams(params.product_data)
  if (!productId && !productData) throw invalidRequest('You must specify either `product` or `product_data` when creating a price.', { param: 'product' })
  let product = productId ? liveProduct(account, productId, 'product') : null
  if (!product && productData) {
    checkKnown(productData, ['active', 'id', 'metadata', 'name', 'statement_descriptor', 'tax_code', 'unit_label'])
    product = createProduct(state, account, productData, origin)
  }
  let unitAmount = optInt(params, 'unit_amount')
  const decimal = optString(params, 'unit_amount_decimal')
  if (unitAmount === undefined && decimal !== undefined) unitAmount = Math.round(Number(decimal))
  if (unitAmount === undefined && params.custom_unit_amount === undefined) throw missingParam('unit_amount')
  const price = priceObject({
    id: newId(account.rng, 'price'),
    created: nowSeconds(),
    product: (product as ProductObject).id,
    currency,
    unitAmount: unitAmount ?? null,
    active: optBool(params, 'active') ?? true,
    nickname: optNullableString(params, 'nickname') ?? null,
    metadata: applyMetadata({}, params.metadata),
  })
  account.prices.insert(price)
  state.emit(account, 'price.created', price, { origin })
  return price
}

export function updatePrice(state: StripeState, account: SimAccount, id: string, params: Params, origin: Origin): PriceObject {
  const before = account.prices.get(id)
  if (!before) throw noSuch('price', id)
  checkKnown(params, ['active', 'currency_options', 'expand', 'lookup_key', 'metadata', 'nickname', 'tax_behavior', 'transfer_lookup_key'])
  const after: PriceObject = structuredClone(before)
  const active = optBool(params, 'active')
  if (active !== undefined) after.active = active
  const nickname = optNullableString(params, 'nickname')
  if (nickname !== undefined) after.nickname = nickname
  after.metadata = applyMetadata(before.metadata, params.metadata)
  const previous = previousAttributes(before, after)
  if (!previous) return before
  account.prices.replace(after)
  state.emit(account, 'price.updated', after, { previous, origin })
  return after
}

/** Control API: a new default price for a product (Stripe prices are immutable in amount). */
export function repriceProduct(state: StripeState, account: SimAccount, id: string, unitAmount: number, currency: string | undefined, origin: Origin): ProductObject {
  const product = liveProduct(account, id)
  const old = product.default_price ? account.prices.get(product.default_price) : undefined
  const price = createPrice(state, account, { product: id, currency: currency ?? old?.currency ?? account.defaultCurrency, unit_amount: unitAmount }, origin)
  return updateProduct(state, account, id, { default_price: price.id }, origin)
}
