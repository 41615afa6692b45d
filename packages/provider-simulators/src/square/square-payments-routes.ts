// Payments API (read side): ListPayments with its real defaults (newest first, last year only,
// main location, 100 per page, limits above 100 ignored) and the updated_at window + UPDATED_AT
// sort that make incremental reads possible; GetPayment.
import type { FastifyInstance } from 'fastify'
import { callerOf, requireScopes } from './square-auth.ts'
import type { SquareRouteContext } from './square-context.ts'
import { invalid, notFound } from './square-errors.ts'
import { keysetPage } from './square-paging.ts'
import type { Query } from './square-params.ts'
import { compact, enumValue, parseTime, queryString, sortOrder } from './square-params.ts'
import type { SquarePayment } from './square-types.ts'

const YEAR = 365 * 86_400_000
const SORT_FIELDS = ['CREATED_AT', 'OFFLINE_CREATED_AT', 'UPDATED_AT'] as const

function paymentLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 100
  const value = Number(raw)
  if (!Number.isInteger(value)) throw invalid('EXPECTED_INTEGER', 'Expected `limit` to be an integer.', 'limit')
  if (value < 1) throw invalid('VALUE_TOO_LOW', `The value of \`limit\` must be greater than or equal to 1. Got ${value}.`, 'limit')
  return value > 100 ? 100 : value
}

function window(query: Query, beginName: string, endName: string, defaultBegin?: number, defaultEnd?: number): { begin?: number; end?: number } {
  const begin = parseTime(queryString(query, beginName), beginName) ?? defaultBegin
  const end = parseTime(queryString(query, endName), endName) ?? defaultEnd
  if (begin !== undefined && end !== undefined && begin > end) throw invalid('INVALID_TIME_RANGE', `\`${beginName}\` must be before \`${endName}\`.`, beginName)
  return { begin, end }
}

/** begin inclusive, end exclusive. */
const within = (at: number, range: { begin?: number; end?: number }): boolean => (range.begin === undefined || at >= range.begin) && (range.end === undefined || at < range.end)

export function registerPaymentRoutes(app: FastifyInstance, { codec }: SquareRouteContext): void {
  app.get('/v2/payments', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'PAYMENTS_READ')
    const query = request.query as Query
    const now = Date.now()
    const limit = paymentLimit(queryString(query, 'limit'))
    const field = enumValue(queryString(query, 'sort_field'), 'sort_field', SORT_FIELDS, 'CREATED_AT')
    const order = sortOrder(queryString(query, 'sort_order'), 'sort_order', 'DESC')
    const created = window(query, 'begin_time', 'end_time', now - YEAR, undefined)
    const updated = window(query, 'updated_at_begin_time', 'updated_at_end_time')
    const locationId = queryString(query, 'location_id') ?? caller.account.merchant.main_location_id
    if (!caller.account.locations.some((location) => location.id === locationId)) {
      throw invalid('INVALID_LOCATION', `Location \`${locationId}\` does not belong to this merchant.`, 'location_id')
    }
    const total = queryString(query, 'total')
    const last4 = queryString(query, 'last_4')
    const brand = queryString(query, 'card_brand')
    const matches = [...caller.account.payments.values()].filter((payment) => {
      // No simulated payment is an offline one, so an offline sort or window matches nothing.
      if (field === 'OFFLINE_CREATED_AT' || queryString(query, 'offline_begin_time') || queryString(query, 'is_offline_payment') === 'true') return false
      const card = (payment.card_details as { card?: { last_4?: string; card_brand?: string } } | undefined)?.card
      return (
        payment.location_id === locationId &&
        within(Date.parse(payment.created_at), created) &&
        within(Date.parse(payment.updated_at), updated) &&
        (total === undefined || payment.total_money.amount === Number(total)) &&
        (last4 === undefined || card?.last_4 === last4) &&
        (brand === undefined || card?.card_brand === brand)
      )
    })
    // The cursor pins the query as sent (explicit parameters only), so the default "now" window
    // may move between pages without invalidating it.
    const pinned = Object.fromEntries(
      Object.entries(query)
        .filter(([name]) => name !== 'cursor' && name !== 'limit')
        .sort(),
    )
    const { page, cursor } = keysetPage<SquarePayment>({
      items: matches,
      key: (payment) => [field === 'UPDATED_AT' ? payment.updated_at : payment.created_at, payment.id],
      descending: order === 'DESC',
      limit,
      cursor: queryString(query, 'cursor'),
      account: caller.account.id,
      query: { endpoint: 'payments', pinned },
      codec,
    })
    return compact({ payments: page, cursor })
  })

  app.get('/v2/payments/:paymentId', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'PAYMENTS_READ')
    const { paymentId } = request.params as { paymentId: string }
    const payment = caller.account.payments.get(paymentId)
    if (!payment) throw notFound(`Could not find payment with id: ${paymentId}`)
    return { payment }
  })
}
