// The QuickBooks Online Accounting API v3 surface the hub uses, under /v3/company/{realmId}.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FaultRegistry, RequestRateLimiter } from '../common/faults.ts'
import { qboFaultRenderer, sendAuthenticationFailed, sendAuthorizationFailed, sendFault, sendObjectNotFound, sendQbo, sendSystemFault, sendThrottled, sendValidationFault } from './quickbooks-faults.ts'
import type { QboTokenStore } from './quickbooks-oauth.ts'
import { executeQuery, parseQuery, QueryError } from './quickbooks-query.ts'
import { currencyRef, money } from './quickbooks-seed.ts'
import type { QboObject } from './quickbooks-seed.ts'
import { resolveEntity } from './quickbooks-store.ts'
import type { QboEntityName, QboRealm, QboRealmRegistry, StoredEntity } from './quickbooks-store.ts'
import { DAY_MS, formatIntuitDate, formatIntuitTime, parseIntuitTime } from './quickbooks-time.ts'

export const CDC_MAX_PER_ENTITY = 1000
export const CDC_WINDOW_DAYS = 30
/** Intuit's documented concurrency ceiling per realm and app. */
export const MAX_CONCURRENT_PER_REALM = 10

export interface ApiDeps {
  realms: QboRealmRegistry
  tokens: QboTokenStore
  faults: FaultRegistry
  limiter: RequestRateLimiter | null
  requestLog: Array<{ method: string; url: string; realmId: string; headers: Record<string, string> }>
}

const realmOf = new WeakMap<FastifyRequest, QboRealm>()

function realmFor(request: FastifyRequest): QboRealm {
  const realm = realmOf.get(request)
  if (!realm) throw new Error('realm not resolved by the auth hook')
  return realm
}

function header(request: FastifyRequest, name: string): string {
  const value = request.headers[name]
  return Array.isArray(value) ? value.join(', ') : (value ?? '')
}

function queryFault(reply: FastifyReply, error: QueryError): FastifyReply {
  return error.kind === 'parser' ? sendValidationFault(reply, 'Error parsing query', error.message, '4000') : sendValidationFault(reply, 'Invalid query', error.message, '4001')
}

function runQueryText(reply: FastifyReply, realm: QboRealm, text: string | undefined): FastifyReply {
  if (!text || text.trim() === '') return sendValidationFault(reply, 'Error parsing query', 'QueryParserError: Encountered " <EOF> " at line 1, column 1.', '4000')
  try {
    return sendQbo(reply, 200, { QueryResponse: executeQuery(realm, parseQuery(text)) })
  } catch (error) {
    if (error instanceof QueryError) return queryFault(reply, error)
    throw error
  }
}

function deletedMarker(id: number, atMs: number): QboObject {
  return { domain: 'QBO', status: 'Deleted', Id: String(id), MetaData: { LastUpdatedTime: formatIntuitTime(atMs) } }
}

/** Changes of one entity since `sinceMs`, oldest first, truncated at the CDC ceiling. */
function cdcEntity(realm: QboRealm, entity: QboEntityName, sinceMs: number): QboObject {
  const changes: Array<{ at: number; id: number; object: QboObject }> = []
  for (const stored of realm.records(entity).values()) {
    if (stored.updatedMs >= sinceMs) changes.push({ at: stored.updatedMs, id: stored.id, object: stored.object })
  }
  for (const tombstone of realm.tombstones(entity)) {
    if (tombstone.deletedMs >= sinceMs) changes.push({ at: tombstone.deletedMs, id: tombstone.id, object: deletedMarker(tombstone.id, tombstone.deletedMs) })
  }
  changes.sort((a, b) => a.at - b.at || a.id - b.id)
  const page = changes.slice(0, CDC_MAX_PER_ENTITY)
  if (page.length === 0) return {}
  return { [entity]: page.map((change) => change.object), startPosition: 1, maxResults: page.length, totalCount: page.length }
}

function requiredMissing(reply: FastifyReply, element: string): FastifyReply {
  return sendValidationFault(reply, 'Required param missing, need to supply the required value for the API', `Required parameter ${element} is missing in the request`, '2020', element)
}

function invalidReference(reply: FastifyReply, element: string, entity: string): FastifyReply {
  return sendValidationFault(reply, 'Invalid Reference Id', `Invalid Reference Id : ${entity} assigned to this transaction has been deleted. Before you can modify this transaction, you must restore ${entity}`, '2500', element)
}

function activeRef(realm: QboRealm, entity: QboEntityName, ref: unknown): StoredEntity | null | 'invalid' {
  if (ref === undefined || ref === null) return null
  const value = (ref as { value?: unknown }).value
  const stored = typeof value === 'string' || typeof value === 'number' ? realm.get(entity, String(value)) : undefined
  if (!stored || stored.object.Active === false) return 'invalid'
  return stored
}

function createSalesReceipt(reply: FastifyReply, realm: QboRealm, body: QboObject): FastifyReply | StoredEntity {
  const lines = body.Line
  if (!Array.isArray(lines) || lines.length === 0) return requiredMissing(reply, 'Line')
  const stored: QboObject[] = []
  let totalCents = 0
  for (const [index, raw] of lines.entries()) {
    const line = (raw ?? {}) as QboObject
    if (line.DetailType === 'SubTotalLineDetail') continue
    if (typeof line.Amount !== 'number' || !Number.isFinite(line.Amount)) return requiredMissing(reply, `Line[${index}].Amount`)
    const detail = line.SalesItemLineDetail as QboObject | undefined
    if (line.DetailType !== 'SalesItemLineDetail' || !detail || typeof detail !== 'object') return requiredMissing(reply, `Line[${index}].SalesItemLineDetail`)
    const item = activeRef(realm, 'Item', detail.ItemRef)
    if (item === 'invalid') return invalidReference(reply, `Line[${index}].SalesItemLineDetail.ItemRef`, 'Item')
    const cents = Math.round(line.Amount * 100)
    totalCents += cents
    stored.push({
      Id: String(stored.length + 1),
      LineNum: stored.length + 1,
      ...(typeof line.Description === 'string' ? { Description: line.Description } : {}),
      Amount: money(cents),
      DetailType: 'SalesItemLineDetail',
      SalesItemLineDetail: {
        ...detail,
        ...(item ? { ItemRef: { value: String(item.id), name: String(item.object.Name) } } : {}),
      },
    })
  }
  if (stored.length === 0) return requiredMissing(reply, 'Line[0].SalesItemLineDetail')
  const customer = activeRef(realm, 'Customer', body.CustomerRef)
  if (customer === 'invalid') return invalidReference(reply, 'CustomerRef', 'Customer')
  const currency = (body.CurrencyRef as { value?: unknown } | undefined)?.value
  if (currency !== undefined && currency !== realm.currency) {
    return sendValidationFault(
      reply,
      'A business validation error has occurred while processing your request',
      `Business Validation Error: Multicurrency is not enabled for this company; transactions must be in the home currency (${realm.currency}).`,
      '6000',
    )
  }
  if (body.TxnDate !== undefined && (typeof body.TxnDate !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(body.TxnDate))) {
    return sendValidationFault(reply, 'Request has invalid or unsupported property', `Property Name:TxnDate specified is unsupported or invalid`, '2010', 'TxnDate')
  }
  const now = Date.now()
  stored.push({ Amount: money(totalCents), DetailType: 'SubTotalLineDetail', SubTotalLineDetail: {} })
  return realm.insert(
    'SalesReceipt',
    {
      DocNumber: typeof body.DocNumber === 'string' ? body.DocNumber : String(realm.nextDocNumber()),
      TxnDate: typeof body.TxnDate === 'string' ? body.TxnDate : formatIntuitDate(now),
      CurrencyRef: currencyRef(realm.currency),
      ...(typeof body.PrivateNote === 'string' ? { PrivateNote: body.PrivateNote } : {}),
      Line: stored,
      TxnTaxDetail: { TotalTax: 0 },
      ...(customer ? { CustomerRef: { value: String(customer.id), name: String(customer.object.DisplayName) } } : {}),
      TotalAmt: money(totalCents),
      ApplyTaxAfterDiscount: false,
      PrintStatus: 'NotSet',
      EmailStatus: 'NotSet',
      Balance: 0,
      DepositToAccountRef: { value: '4', name: 'Undeposited Funds' },
    },
    now,
  )
}

const NAME_FIELDS = ['DisplayName', 'Title', 'GivenName', 'MiddleName', 'FamilyName', 'Suffix'] as const

function duplicateName(realm: QboRealm, displayName: string, exceptId?: number): boolean {
  const wanted = displayName.toLowerCase()
  for (const stored of realm.records('Customer').values()) {
    if (stored.id !== exceptId && String(stored.object.DisplayName).toLowerCase() === wanted) return true
  }
  return false
}

function saveCustomer(reply: FastifyReply, realm: QboRealm, body: QboObject): FastifyReply | StoredEntity {
  if (body.Id !== undefined) {
    const existing = realm.get('Customer', String(body.Id))
    if (!existing) return sendObjectNotFound(reply, 'Customer', String(body.Id))
    if (String(body.SyncToken) !== existing.object.SyncToken) {
      return sendValidationFault(reply, 'Stale Object Error', `Stale Object Error : You and another user were working on the same thing. Please try again. (SyncToken ${String(body.SyncToken)} is not current)`, '5010')
    }
    if (typeof body.DisplayName === 'string' && duplicateName(realm, body.DisplayName, existing.id)) return duplicate(reply, body.DisplayName)
    return realm.update('Customer', existing, body)
  }
  if (!NAME_FIELDS.some((field) => typeof body[field] === 'string' && body[field] !== '')) return requiredMissing(reply, 'DisplayName')
  const displayName = typeof body.DisplayName === 'string' && body.DisplayName !== '' ? body.DisplayName : [body.GivenName, body.FamilyName].filter((part) => typeof part === 'string').join(' ')
  if (duplicateName(realm, displayName)) return duplicate(reply, displayName)
  return realm.insert(
    'Customer',
    {
      Taxable: false,
      Job: false,
      BillWithParent: false,
      Balance: 0,
      BalanceWithJobs: 0,
      CurrencyRef: currencyRef(realm.currency),
      PreferredDeliveryMethod: 'Print',
      IsProject: false,
      ...body,
      FullyQualifiedName: displayName,
      DisplayName: displayName,
      PrintOnCheckName: typeof body.PrintOnCheckName === 'string' ? body.PrintOnCheckName : displayName,
      Active: true,
    },
    Date.now(),
  )
}

function duplicate(reply: FastifyReply, name: string): FastifyReply {
  return sendValidationFault(reply, 'Duplicate Name Exists Error', `The name supplied already exists. : Another customer, vendor or employee is already using this name (${name}). Please use a different name.`, '6240')
}

export function registerApiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { realms, tokens, faults, limiter, requestLog } = deps
  const inFlight = new Map<string, number>()

  app.register(
    async (api) => {
      api.addContentTypeParser(['application/text', 'text/plain'], { parseAs: 'string' }, (_request, body, done) => done(null, body))

      api.addHook('onRequest', async (request, reply) => {
        const realmId = (request.params as { realmId?: string }).realmId ?? ''
        requestLog.push({
          method: request.method,
          url: request.url,
          realmId,
          headers: { accept: header(request, 'accept'), 'content-type': header(request, 'content-type'), 'user-agent': header(request, 'user-agent') },
        })
        if (requestLog.length > 1000) requestLog.splice(0, requestLog.length - 1000)
        const authorization = header(request, 'authorization')
        if (!/^bearer\s+\S+/i.test(authorization)) return sendAuthenticationFailed(reply, 'Token invalid: no bearer token in the Authorization header')
        const check = tokens.checkAccess(authorization.replace(/^bearer\s+/i, '').trim())
        if (!check.ok) return sendAuthenticationFailed(reply, check.detail)
        const realm = realms.get(realmId)
        if (check.realmId !== realmId || !realm) return sendAuthorizationFailed(reply, realmId)

        if (limiter) {
          const wait = limiter.hit(realmId)
          if (wait > 0) return sendThrottled(reply, wait, `more than ${limiter.limit} requests per minute for company ${realmId}`)
          const running = inFlight.get(realmId) ?? 0
          if (running >= MAX_CONCURRENT_PER_REALM) return sendThrottled(reply, 1, `more than ${MAX_CONCURRENT_PER_REALM} concurrent requests for company ${realmId}`)
          inFlight.set(realmId, running + 1)
          reply.raw.once('close', () => inFlight.set(realmId, (inFlight.get(realmId) ?? 1) - 1))
        }
        // Injected faults come after authentication and the rate limiter, so slow requests hold
        // their concurrency slot as they would at Intuit.
        if (await faults.apply(realmId, request, reply, qboFaultRenderer)) return reply
        realmOf.set(request, realm)
        return undefined
      })

      api.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
        if (error.statusCode === 400 || error.statusCode === 415) {
          return sendValidationFault(reply, 'Request has invalid or unsupported property', `Property Name:${error.message} specified is unsupported or invalid`, '2010')
        }
        return sendSystemFault(reply)
      })

      api.get('/companyinfo/:id', async (request, reply) => {
        const realm = realmFor(request)
        const { id } = request.params as { id: string }
        if (id !== realm.realmId) return sendObjectNotFound(reply, 'CompanyInfo', id)
        return sendQbo(reply, 200, {
          CompanyInfo: {
            CompanyName: realm.companyName,
            LegalName: `${realm.companyName} LLC`,
            CompanyAddr: { Id: '1', Line1: '1 Stage Door Way', City: 'Mountain View', Country: 'US', CountrySubDivisionCode: 'CA', PostalCode: '94043' },
            Country: 'US',
            Email: { Address: 'box-office@example.com' },
            SupportedLanguages: 'en',
            NameValue: [{ Name: 'OfferingSku', Value: 'QuickBooks Online Plus' }],
            domain: 'QBO',
            sparse: false,
            Id: '1',
            SyncToken: '0',
            MetaData: { CreateTime: formatIntuitTime(realm.createdMs), LastUpdatedTime: formatIntuitTime(realm.createdMs) },
          },
        })
      })

      api.get('/preferences', async (request, reply) => {
        const realm = realmFor(request)
        return sendQbo(reply, 200, {
          Preferences: {
            CurrencyPrefs: { MultiCurrencyEnabled: false, HomeCurrency: { value: realm.currency } },
            SalesFormsPrefs: { CustomTxnNumbers: false },
            domain: 'QBO',
            sparse: false,
            Id: '1',
            SyncToken: '0',
          },
        })
      })

      api.get('/query', async (request, reply) => runQueryText(reply, realmFor(request), (request.query as { query?: string }).query))
      api.post('/query', async (request, reply) => {
        const body = typeof request.body === 'string' ? request.body : undefined
        return runQueryText(reply, realmFor(request), body ?? (request.query as { query?: string }).query)
      })

      api.get('/cdc', async (request, reply) => {
        const realm = realmFor(request)
        const query = request.query as { entities?: string; changedSince?: string }
        if (!query.entities) return requiredMissing(reply, 'entities')
        if (!query.changedSince) return requiredMissing(reply, 'changedSince')
        const entities: QboEntityName[] = []
        for (const name of query.entities
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean)) {
          const entity = resolveEntity(name)
          if (!entity || entity.toLowerCase() !== name.toLowerCase()) {
            return sendValidationFault(reply, 'Request has invalid or unsupported property', `Property Name:entities specified is unsupported or invalid: ${name}`, '2010', 'entities')
          }
          entities.push(entity)
        }
        const since = parseIntuitTime(query.changedSince)
        if (Number.isNaN(since)) {
          return sendValidationFault(reply, 'Request has invalid or unsupported property', 'Property Name:changedSince specified is unsupported or invalid', '2010', 'changedSince')
        }
        if (since < Date.now() - CDC_WINDOW_DAYS * DAY_MS) {
          return sendValidationFault(
            reply,
            'Request has invalid or unsupported property',
            `Property Name:changedSince specified is unsupported or invalid: changedSince cannot be more than ${CDC_WINDOW_DAYS} days in the past`,
            '2010',
            'changedSince',
          )
        }
        return sendQbo(reply, 200, { CDCResponse: [{ QueryResponse: entities.map((entity) => cdcEntity(realm, entity, since)) }] })
      })

      api.get('/:entity/:id', async (request, reply) => {
        const realm = realmFor(request)
        const { entity: name, id } = request.params as { entity: string; id: string }
        const entity = resolveEntity(name)
        if (!entity || entity.toLowerCase() !== name.toLowerCase()) return unsupported(reply, 'GET')
        const stored = realm.get(entity, id)
        if (!stored) return sendObjectNotFound(reply, entity, id)
        return sendQbo(reply, 200, { [entity]: stored.object })
      })

      api.post('/:entity', async (request, reply) => {
        const realm = realmFor(request)
        const name = (request.params as { entity: string }).entity.toLowerCase()
        const requestId = (request.query as { requestid?: string }).requestid
        const body = request.body
        if (name !== 'customer' && name !== 'salesreceipt') return unsupported(reply, 'POST')
        const entity: QboEntityName = name === 'customer' ? 'Customer' : 'SalesReceipt'
        if (requestId !== undefined && requestId.length > 50) {
          return sendValidationFault(reply, 'Request has invalid or unsupported property', 'Property Name:requestid specified is unsupported or invalid: longer than 50 characters', '2010', 'requestid')
        }
        // Intuit answers a repeated requestid with the object the first request produced.
        const idempotencyKey = requestId ? `${entity}:${requestId}` : undefined
        const previous = idempotencyKey ? realm.requestIds.get(idempotencyKey) : undefined
        if (previous !== undefined) {
          const stored = realm.get(entity, previous)
          if (stored) return sendQbo(reply, 200, { [entity]: stored.object })
        }
        if (!body || typeof body !== 'object' || Array.isArray(body)) {
          return sendValidationFault(reply, 'Request has invalid or unsupported property', 'Property Name:Request Body is empty or not a JSON object specified is unsupported or invalid', '2010')
        }
        const result = entity === 'Customer' ? saveCustomer(reply, realm, body as QboObject) : createSalesReceipt(reply, realm, body as QboObject)
        if (!('object' in result)) return result
        if (idempotencyKey) realm.requestIds.set(idempotencyKey, result.id)
        return sendQbo(reply, 200, { [entity]: result.object })
      })
    },
    { prefix: '/v3/company/:realmId' },
  )
}

function unsupported(reply: FastifyReply, method: string): FastifyReply {
  return sendFault(reply, 400, 'ValidationFault', { Message: 'Unsupported Operation', Detail: `Operation ${method} is not supported for this resource`, code: '500' })
}
