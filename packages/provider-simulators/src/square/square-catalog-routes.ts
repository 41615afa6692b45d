// Catalog API (read side): ListCatalog, SearchCatalogObjects (begin_time is exclusive and, with
// include_deleted_objects, returns tombstones with `is_deleted: true`, which is how Square exposes
// catalog deletions) and RetrieveCatalogObject.
import type { FastifyInstance } from 'fastify'
import { callerOf, requireScopes } from './square-auth.ts'
import type { SquareRouteContext } from './square-context.ts'
import { invalid, notFound } from './square-errors.ts'
import { iso } from './square-fixtures.ts'
import { keysetPage } from './square-paging.ts'
import type { Query } from './square-params.ts'
import { boolParam, compact, objectBody, parseTime, queryString } from './square-params.ts'
import type { SquareAccount } from './square-store.ts'
import type { SquareCatalogObject } from './square-types.ts'

/** Types the simulator stores; ITEM_VARIATION objects live inside their items. */
const TOP_LEVEL_TYPES = ['ITEM', 'CATEGORY'] as const
const KNOWN_TYPES = new Set([
  'ITEM',
  'IMAGE',
  'CATEGORY',
  'ITEM_VARIATION',
  'TAX',
  'DISCOUNT',
  'MODIFIER_LIST',
  'MODIFIER',
  'PRICING_RULE',
  'PRODUCT_SET',
  'TIME_PERIOD',
  'MEASUREMENT_UNIT',
  'SUBSCRIPTION_PLAN_VARIATION',
  'ITEM_OPTION',
  'ITEM_OPTION_VAL',
  'CUSTOM_ATTRIBUTE_DEFINITION',
  'QUICK_AMOUNTS_SETTINGS',
  'SUBSCRIPTION_PLAN',
  'AVAILABILITY_PERIOD',
])
/** Square documents no page size for ListCatalog; 100 is an approximation. */
const LIST_PAGE_SIZE = 100

function parseTypes(raw: unknown, field: string): Set<string> {
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' && raw !== '' ? raw.split(',') : []
  if (list.length === 0) return new Set(TOP_LEVEL_TYPES)
  const types = new Set(list.map((type) => type.trim().toUpperCase()))
  for (const type of types) {
    if (!KNOWN_TYPES.has(type)) throw invalid('INVALID_ENUM_VALUE', `Unknown catalog object type \`${type}\`.`, field)
  }
  return types
}

/** Objects of the requested types, variations lifted out of their items when asked for. */
function objectsOfTypes(account: SquareAccount, types: Set<string>): SquareCatalogObject[] {
  const out: SquareCatalogObject[] = []
  for (const object of account.catalog.values()) {
    if (types.has(object.type)) out.push(object)
    if (types.has('ITEM_VARIATION')) out.push(...((object.item_data?.variations ?? []) as unknown as SquareCatalogObject[]))
  }
  return out
}

function relatedCategories(account: SquareAccount, objects: SquareCatalogObject[]): SquareCatalogObject[] {
  const ids = new Set(objects.flatMap((object) => object.item_data?.categories?.map((category) => category.id) ?? []))
  return [...ids].map((id) => account.catalog.get(id)).filter((object): object is SquareCatalogObject => object !== undefined)
}

function latestTime(account: SquareAccount): string {
  let latest = 0
  for (const object of account.catalog.values()) latest = Math.max(latest, Date.parse(object.updated_at))
  return iso(latest)
}

type CatalogMatcher = (object: SquareCatalogObject) => boolean

function catalogQuery(raw: unknown): CatalogMatcher {
  if (raw === undefined || raw === null) return () => true
  const query = raw as Record<string, { keywords?: string[]; attribute_name?: string; attribute_value?: string; attribute_prefix?: string }>
  const name = (object: SquareCatalogObject): string => (object.item_data?.name ?? object.category_data?.name ?? '').toLowerCase()
  const [kind, spec] = Object.entries(query)[0] ?? []
  if (!kind || !spec) return () => true
  switch (kind) {
    case 'text_query':
      return (object) => (spec.keywords ?? []).every((keyword) => name(object).includes(keyword.toLowerCase()))
    case 'exact_query':
      return (object) => spec.attribute_name === 'name' && name(object) === String(spec.attribute_value ?? '').toLowerCase()
    case 'prefix_query':
      return (object) => spec.attribute_name === 'name' && name(object).startsWith(String(spec.attribute_prefix ?? '').toLowerCase())
    default:
      // Better a loud refusal than silently unfiltered results a test would trust.
      throw invalid('BAD_REQUEST', `The simulator does not model catalog query \`${kind}\`; supported: text_query, exact_query, prefix_query (on name).`, `query.${kind}`)
  }
}

export function registerCatalogRoutes(app: FastifyInstance, { codec }: SquareRouteContext): void {
  app.get('/v2/catalog/list', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'ITEMS_READ')
    const query = request.query as Query
    const types = parseTypes(queryString(query, 'types'), 'types')
    const live = objectsOfTypes(caller.account, types).filter((object) => !object.is_deleted)
    const { page, cursor } = keysetPage({
      items: live,
      key: (object) => [object.created_at, object.id],
      descending: false,
      limit: LIST_PAGE_SIZE,
      cursor: queryString(query, 'cursor'),
      account: caller.account.id,
      query: { endpoint: 'catalog-list', types: [...types].sort() },
      codec,
    })
    return compact({ objects: page, cursor })
  })

  app.post('/v2/catalog/search', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'ITEMS_READ')
    const body = objectBody(request.body)
    const types = parseTypes(body.object_types, 'object_types')
    const includeDeleted = body.include_deleted_objects === true
    const begin = parseTime(body.begin_time, 'begin_time')
    const rawLimit = typeof body.limit === 'number' ? body.limit : Number.NaN
    // The limit is advisory: zero, negative or above 1,000 is ignored, not refused.
    const limit = Number.isInteger(rawLimit) && rawLimit > 0 && rawLimit <= 1000 ? rawLimit : 100
    const matcher = catalogQuery(body.query)
    const matches = objectsOfTypes(caller.account, types).filter((object) => (includeDeleted || !object.is_deleted) && (begin === undefined || Date.parse(object.updated_at) > begin) && matcher(object))
    const { page, cursor } = keysetPage({
      items: matches,
      key: (object) => [object.created_at, object.id],
      descending: false,
      limit,
      cursor: typeof body.cursor === 'string' ? body.cursor : undefined,
      account: caller.account.id,
      query: { endpoint: 'catalog-search', types: [...types].sort(), includeDeleted, begin: body.begin_time ?? null, query: body.query ?? null },
      codec,
    })
    return compact({
      objects: page,
      cursor,
      related_objects: body.include_related_objects === true ? relatedCategories(caller.account, page) : undefined,
      latest_time: latestTime(caller.account),
    })
  })

  app.get('/v2/catalog/object/:objectId', async (request) => {
    const caller = callerOf(request)
    requireScopes(caller, 'ITEMS_READ')
    const { objectId } = request.params as { objectId: string }
    const all = objectsOfTypes(caller.account, new Set([...TOP_LEVEL_TYPES, 'ITEM_VARIATION']))
    const object = all.find((candidate) => candidate.id === objectId && !candidate.is_deleted)
    if (!object) throw notFound(`Object with ID \`${objectId}\` not found.`)
    const related = boolParam(queryString(request.query as Query, 'include_related_objects')) ? relatedCategories(caller.account, [object]) : []
    return compact({ object, related_objects: related })
  })
}
