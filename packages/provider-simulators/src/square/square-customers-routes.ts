// Customers API: list (DEFAULT/CREATED_AT sort), search (updated_at / created_at / text filters),
// retrieve, create, update, delete. Deleted customers disappear: Square keeps no tombstones, so
// deletions are only visible through `customer.deleted` webhooks.
import type { FastifyInstance } from 'fastify'
import { callerOf, requireScopes } from './square-auth.ts'
import type { SquareRouteContext } from './square-context.ts'
import { invalid, notFound, squareError } from './square-errors.ts'
import { iso } from './square-fixtures.ts'
import { squareIds } from './square-ids.ts'
import { keysetPage } from './square-paging.ts'
import type { SortKey } from './square-paging.ts'
import type { Query } from './square-params.ts'
import { boolParam, compact, enumValue, objectBody, parseTime, queryString, sortOrder, strictLimit } from './square-params.ts'
import type { SquareAccount } from './square-store.ts'
import type { SquareCustomer } from './square-types.ts'

const SORT_FIELDS = ['DEFAULT', 'CREATED_AT'] as const
type CustomerSortField = (typeof SORT_FIELDS)[number]
const EDITABLE = ['given_name', 'family_name', 'company_name', 'nickname', 'email_address', 'address', 'phone_number', 'reference_id', 'note', 'birthday', 'tax_ids'] as const
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** Square's DEFAULT order: by name, falling back to company, e-mail, then phone. */
function nameKey(customer: SquareCustomer): string {
  const name = [customer.given_name, customer.family_name].filter(Boolean).join(' ')
  return (name || customer.company_name || customer.email_address || customer.phone_number || '').toLowerCase()
}

function sortKey(field: CustomerSortField): (customer: SquareCustomer) => SortKey {
  return field === 'CREATED_AT' ? (customer) => [customer.created_at, customer.id] : (customer) => [nameKey(customer), customer.id]
}

function findCustomer(account: SquareAccount, id: string): SquareCustomer {
  const customer = account.customers.get(id)
  if (!customer) throw notFound(`Customer with ID \`${id}\` not found.`)
  return customer
}

interface TimeRange {
  start_at?: string
  end_at?: string
}

function timeFilter(range: unknown, field: string): ((value: string) => boolean) | null {
  if (range === undefined || range === null) return null
  if (typeof range !== 'object') throw invalid('EXPECTED_OBJECT', `Expected \`${field}\` to be an object.`, field)
  const { start_at: startRaw, end_at: endRaw } = range as TimeRange
  const start = parseTime(startRaw, `${field}.start_at`)
  const end = parseTime(endRaw, `${field}.end_at`)
  if (start !== undefined && end !== undefined && start > end) throw invalid('INVALID_TIME_RANGE', `\`${field}.start_at\` must be before \`${field}.end_at\`.`, field)
  // Both bounds inclusive, as Square documents for customer search.
  return (value) => {
    const at = Date.parse(value)
    return (start === undefined || at >= start) && (end === undefined || at <= end)
  }
}

function textFilter(filter: unknown, field: string, pick: (customer: SquareCustomer) => string | undefined): ((customer: SquareCustomer) => boolean) | null {
  if (filter === undefined || filter === null) return null
  const { exact, fuzzy } = filter as { exact?: string; fuzzy?: string }
  if (exact !== undefined) return (customer) => pick(customer)?.toLowerCase() === String(exact).toLowerCase()
  if (fuzzy !== undefined) return (customer) => (pick(customer) ?? '').toLowerCase().includes(String(fuzzy).toLowerCase())
  throw invalid('BAD_REQUEST', `\`${field}\` needs \`exact\` or \`fuzzy\`.`, field)
}

function customerFields(body: Record<string, unknown>): Partial<SquareCustomer> {
  const fields: Record<string, unknown> = {}
  for (const name of EDITABLE) {
    if (body[name] !== undefined) fields[name] = body[name]
  }
  if (fields.email_address !== undefined && fields.email_address !== null && !EMAIL.test(String(fields.email_address))) {
    throw invalid('INVALID_EMAIL_ADDRESS', 'Expected `email_address` to be a valid email address.', 'email_address')
  }
  return fields as Partial<SquareCustomer>
}

export function registerCustomerRoutes(app: FastifyInstance, { store, codec }: SquareRouteContext): void {
  app.get('/v2/customers', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'CUSTOMERS_READ')
    const query = request.query as Query
    const limit = strictLimit(queryString(query, 'limit'), 'limit', 1, 100, 100)
    const field = enumValue(queryString(query, 'sort_field'), 'sort_field', SORT_FIELDS, 'DEFAULT')
    const order = sortOrder(queryString(query, 'sort_order'), 'sort_order', 'ASC')
    const customers = caller.account.customers.values()
    const { page, cursor } = keysetPage({
      items: customers,
      key: sortKey(field),
      descending: order === 'DESC',
      limit,
      cursor: queryString(query, 'cursor'),
      account: caller.account.id,
      query: { endpoint: 'list', field, order },
      codec,
    })
    return compact({ customers: page, cursor, count: boolParam(queryString(query, 'count')) ? caller.account.customers.size : undefined })
  })

  app.post('/v2/customers/search', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'CUSTOMERS_READ')
    const body = objectBody(request.body)
    const limit = strictLimit(body.limit, 'limit', 1, 100, 100)
    const query = (body.query ?? {}) as { filter?: Record<string, unknown>; sort?: { field?: string; order?: string } }
    const filter = query.filter ?? {}
    const field = enumValue(query.sort?.field, 'query.sort.field', SORT_FIELDS, 'DEFAULT')
    const order = sortOrder(query.sort?.order, 'query.sort.order', 'ASC')
    const updated = timeFilter(filter.updated_at, 'query.filter.updated_at')
    const created = timeFilter(filter.created_at, 'query.filter.created_at')
    const predicates = [
      updated && ((customer: SquareCustomer) => updated(customer.updated_at)),
      created && ((customer: SquareCustomer) => created(customer.created_at)),
      textFilter(filter.email_address, 'query.filter.email_address', (customer) => customer.email_address),
      textFilter(filter.phone_number, 'query.filter.phone_number', (customer) => customer.phone_number),
      textFilter(filter.reference_id, 'query.filter.reference_id', (customer) => customer.reference_id),
    ].filter((predicate): predicate is (customer: SquareCustomer) => boolean => Boolean(predicate))
    const matches = [...caller.account.customers.values()].filter((customer) => predicates.every((predicate) => predicate(customer)))
    const { page, cursor } = keysetPage({
      items: matches,
      key: sortKey(field),
      descending: order === 'DESC',
      limit,
      cursor: typeof body.cursor === 'string' ? body.cursor : undefined,
      account: caller.account.id,
      query: { endpoint: 'search', filter, field, order },
      codec,
    })
    return compact({ customers: page, cursor, count: body.count === true ? matches.length : undefined })
  })

  app.get('/v2/customers/:customerId', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'CUSTOMERS_READ')
    const { customerId } = request.params as { customerId: string }
    return { customer: findCustomer(caller.account, customerId) }
  })

  app.post('/v2/customers', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'CUSTOMERS_WRITE')
    const fields = customerFields(objectBody(request.body))
    if (!fields.given_name && !fields.family_name && !fields.company_name && !fields.email_address && !fields.phone_number) {
      throw invalid('BAD_REQUEST', 'At least one of the following fields must be set: given_name, family_name, company_name, email_address, phone_number.')
    }
    const now = iso(store.now())
    const customer: SquareCustomer = {
      id: squareIds.customer(caller.account.liveRng),
      created_at: now,
      updated_at: now,
      ...fields,
      preferences: { email_unsubscribed: false },
      creation_source: 'THIRD_PARTY',
      version: 0,
    }
    caller.account.customers.set(customer.id, customer)
    return { customer }
  })

  app.put('/v2/customers/:customerId', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'CUSTOMERS_WRITE')
    const { customerId } = request.params as { customerId: string }
    const customer = findCustomer(caller.account, customerId)
    const body = objectBody(request.body)
    if (body.version !== undefined && Number(body.version) !== customer.version) {
      throw squareError(409, 'INVALID_REQUEST_ERROR', 'CONFLICT', `Customer version mismatch: expected ${customer.version}, got ${String(body.version)}.`, 'version')
    }
    Object.assign(customer, customerFields(body))
    store.touchCustomer(customer)
    return { customer }
  })

  app.delete('/v2/customers/:customerId', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'CUSTOMERS_WRITE')
    const { customerId } = request.params as { customerId: string }
    const customer = findCustomer(caller.account, customerId)
    const version = queryString(request.query as Query, 'version')
    if (version !== undefined && Number(version) !== customer.version) {
      throw squareError(409, 'INVALID_REQUEST_ERROR', 'CONFLICT', `Customer version mismatch: expected ${customer.version}, got ${version}.`, 'version')
    }
    caller.account.customers.delete(customerId)
    caller.account.deletedCustomers.set(customerId, customer)
    return {}
  })
}
