// The subset of the QuickBooks query language the hub and most integrations use:
//   SELECT * | COUNT(*) | f1, f2 FROM Entity [WHERE cond [AND cond]...]
//     [ORDERBY field [ASC|DESC][, ...]] [STARTPOSITION n] [MAXRESULTS m]
// with =, !=, <, >, <=, >=, IN (...) and LIKE. Semantics follow Intuit: 1-based STARTPOSITION,
// MAXRESULTS capped at 1000 (default 100), inactive name-list objects hidden unless the query
// filters on Active, and `maxResults` in the answer counting what was returned.
import { resolveEntity, SOFT_DELETED } from './quickbooks-store.ts'
import type { QboEntityName, QboRealm, StoredEntity } from './quickbooks-store.ts'
import type { QboObject } from './quickbooks-seed.ts'
import { parseIntuitTime } from './quickbooks-time.ts'

export const MAX_RESULTS_CAP = 1000
export const DEFAULT_MAX_RESULTS = 100

/** `parser` → QueryParserError (code 4000); `validation` → QueryValidationError (code 4001). */
export class QueryError extends Error {
  readonly kind: 'parser' | 'validation'
  constructor(kind: 'parser' | 'validation', detail: string) {
    super(detail)
    this.kind = kind
  }
}

type Literal = string | number | boolean
type Operator = '=' | '!=' | '<' | '>' | '<=' | '>=' | 'IN' | 'LIKE'

interface Condition {
  field: string
  op: Operator
  values: Literal[]
}

export interface ParsedQuery {
  count: boolean
  fields: string[] | null
  entity: QboEntityName
  where: Condition[]
  orderBy: Array<{ field: string; desc: boolean }>
  startPosition: number
  maxResults: number
}

interface Token {
  type: 'word' | 'string' | 'number' | 'symbol'
  text: string
  column: number
}

function tokenize(query: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < query.length) {
    const ch = query[i] as string
    if (/\s/.test(ch)) {
      i++
      continue
    }
    const column = i + 1
    if (ch === "'") {
      let text = ''
      i++
      for (;;) {
        if (i >= query.length) throw new QueryError('parser', `QueryParserError: Encountered " <EOF> " at line 1, column ${query.length + 1}. Unterminated string literal starting at column ${column}.`)
        const c = query[i] as string
        if (c === '\\' && i + 1 < query.length) {
          text += query[i + 1]
          i += 2
          continue
        }
        if (c === "'") {
          if (query[i + 1] === "'") {
            text += "'"
            i += 2
            continue
          }
          i++
          break
        }
        text += c
        i++
      }
      tokens.push({ type: 'string', text, column })
      continue
    }
    const number = /^-?\d+(\.\d+)?/.exec(query.slice(i))
    if (number && (ch !== '-' || /\d/.test(query[i + 1] ?? ''))) {
      tokens.push({ type: 'number', text: number[0], column })
      i += number[0].length
      continue
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(query.slice(i))
    if (word) {
      tokens.push({ type: 'word', text: word[0], column })
      i += word[0].length
      continue
    }
    const two = query.slice(i, i + 2)
    if (two === '<=' || two === '>=' || two === '!=' || two === '<>') {
      tokens.push({ type: 'symbol', text: two === '<>' ? '!=' : two, column })
      i += 2
      continue
    }
    if ('(),*=<>'.includes(ch)) {
      tokens.push({ type: 'symbol', text: ch, column })
      i++
      continue
    }
    throw new QueryError('parser', `QueryParserError: Lexical error at line 1, column ${column}.  Encountered: "${ch}"`)
  }
  return tokens
}

const COMMON_FIELDS = ['Id', 'MetaData.CreateTime', 'MetaData.LastUpdatedTime']
const QUERYABLE: Record<QboEntityName, string[]> = {
  Customer: [...COMMON_FIELDS, 'Active', 'DisplayName', 'GivenName', 'FamilyName', 'CompanyName', 'FullyQualifiedName', 'PrimaryEmailAddr', 'Balance'],
  Item: [...COMMON_FIELDS, 'Active', 'Name', 'Type', 'FullyQualifiedName', 'Sku'],
  Invoice: [...COMMON_FIELDS, 'DocNumber', 'TxnDate', 'DueDate', 'TotalAmt', 'Balance', 'CustomerRef'],
  Payment: [...COMMON_FIELDS, 'TxnDate', 'TotalAmt', 'CustomerRef'],
  SalesReceipt: [...COMMON_FIELDS, 'DocNumber', 'TxnDate', 'TotalAmt', 'CustomerRef'],
}
const TIME_FIELDS = new Set(['MetaData.CreateTime', 'MetaData.LastUpdatedTime'])
const NUMBER_FIELDS = new Set(['Id', 'Balance', 'TotalAmt'])

class Parser {
  readonly #tokens: Token[]
  readonly #length: number
  #pos = 0

  constructor(query: string) {
    this.#tokens = tokenize(query)
    this.#length = query.length
  }

  #peek(): Token | undefined {
    return this.#tokens[this.#pos]
  }

  #fail(expected: string): never {
    const token = this.#peek()
    const found = token ? `"${token.text}"` : '<EOF>'
    const column = token ? token.column : this.#length + 1
    throw new QueryError('parser', `QueryParserError: Encountered " ${found} " at line 1, column ${column}.\nWas expecting:\n    ${expected} ...`)
  }

  #isKeyword(keyword: string): boolean {
    const token = this.#peek()
    return token?.type === 'word' && token.text.toUpperCase() === keyword
  }

  #keyword(keyword: string): void {
    if (!this.#isKeyword(keyword)) this.#fail(`"${keyword}"`)
    this.#pos++
  }

  #symbol(symbol: string): void {
    const token = this.#peek()
    if (token?.type !== 'symbol' || token.text !== symbol) this.#fail(`"${symbol}"`)
    this.#pos++
  }

  #isSymbol(symbol: string): boolean {
    const token = this.#peek()
    return token?.type === 'symbol' && token.text === symbol
  }

  #word(expected: string): string {
    const token = this.#peek()
    if (token?.type !== 'word') this.#fail(expected)
    this.#pos++
    return token.text
  }

  #integer(): number {
    const token = this.#peek()
    if (token?.type !== 'number' || !/^\d+$/.test(token.text)) this.#fail('<INTEGER>')
    this.#pos++
    return Number(token.text)
  }

  #literal(): Literal {
    const token = this.#peek()
    if (token?.type === 'string') {
      this.#pos++
      return token.text
    }
    if (token?.type === 'number') {
      this.#pos++
      return Number(token.text)
    }
    if (token?.type === 'word' && /^(true|false)$/i.test(token.text)) {
      this.#pos++
      return token.text.toLowerCase() === 'true'
    }
    return this.#fail('<STRING> | <NUMBER> | "true" | "false"')
  }

  parse(): ParsedQuery {
    this.#keyword('SELECT')
    let count = false
    let fields: string[] | null = null
    if (this.#isSymbol('*')) {
      this.#pos++
    } else if (this.#isKeyword('COUNT')) {
      this.#pos++
      this.#symbol('(')
      this.#symbol('*')
      this.#symbol(')')
      count = true
    } else {
      fields = [this.#word('"*" | "COUNT" | <IDENTIFIER>')]
      while (this.#isSymbol(',')) {
        this.#pos++
        fields.push(this.#word('<IDENTIFIER>'))
      }
    }
    this.#keyword('FROM')
    const entityName = this.#word('<ENTITY>')
    const entity = resolveEntity(entityName)
    if (!entity || entity.toLowerCase() !== entityName.toLowerCase()) {
      throw new QueryError('parser', `QueryParserError: Invalid content. Entity "${entityName}" is not supported`)
    }
    const where: Condition[] = []
    if (this.#isKeyword('WHERE')) {
      this.#pos++
      where.push(this.#condition())
      while (this.#isKeyword('AND')) {
        this.#pos++
        where.push(this.#condition())
      }
    }
    const orderBy: ParsedQuery['orderBy'] = []
    if (this.#isKeyword('ORDERBY')) {
      this.#pos++
      do {
        if (orderBy.length > 0) this.#pos++
        const field = this.#word('<IDENTIFIER>')
        let desc = false
        if (this.#isKeyword('ASC') || this.#isKeyword('DESC')) {
          desc = this.#word('"ASC" | "DESC"').toUpperCase() === 'DESC'
        }
        orderBy.push({ field, desc })
      } while (this.#isSymbol(','))
    }
    let startPosition = 1
    let maxResults = DEFAULT_MAX_RESULTS
    for (let clause = 0; clause < 2; clause++) {
      if (this.#isKeyword('STARTPOSITION')) {
        this.#pos++
        startPosition = this.#integer()
      } else if (this.#isKeyword('MAXRESULTS')) {
        this.#pos++
        maxResults = this.#integer()
      }
    }
    if (this.#peek()) this.#fail('<EOF>')
    const query: ParsedQuery = { count, fields, entity, where, orderBy, startPosition: Math.max(1, startPosition), maxResults: Math.min(MAX_RESULTS_CAP, maxResults) }
    validate(query)
    return query
  }

  #condition(): Condition {
    const field = this.#word('<IDENTIFIER>')
    if (this.#isKeyword('IN')) {
      this.#pos++
      this.#symbol('(')
      const values = [this.#literal()]
      while (this.#isSymbol(',')) {
        this.#pos++
        values.push(this.#literal())
      }
      this.#symbol(')')
      return { field, op: 'IN', values }
    }
    if (this.#isKeyword('LIKE')) {
      this.#pos++
      return { field, op: 'LIKE', values: [this.#literal()] }
    }
    const token = this.#peek()
    if (token?.type !== 'symbol' || !['=', '!=', '<', '>', '<=', '>='].includes(token.text)) this.#fail('"=" | "<" | ">" | "<=" | ">=" | "!=" | "IN" | "LIKE"')
    this.#pos++
    return { field, op: token.text as Operator, values: [this.#literal()] }
  }
}

function canonicalField(entity: QboEntityName, field: string): string {
  const found = QUERYABLE[entity].find((candidate) => candidate.toLowerCase() === field.toLowerCase())
  if (!found) throw new QueryError('validation', `QueryValidationError: property '${field}' is not queryable`)
  return found
}

function validate(query: ParsedQuery): void {
  for (const condition of query.where) {
    condition.field = canonicalField(query.entity, condition.field)
    if (TIME_FIELDS.has(condition.field)) {
      for (const value of condition.values) {
        if (typeof value !== 'string' || Number.isNaN(parseIntuitTime(value))) {
          throw new QueryError('validation', `QueryValidationError: value ${JSON.stringify(value)} is not a valid date-time for ${condition.field}`)
        }
      }
    }
  }
  for (const order of query.orderBy) order.field = canonicalField(query.entity, order.field)
}

export function parseQuery(query: string): ParsedQuery {
  return new Parser(query).parse()
}

function fieldValue(stored: StoredEntity, field: string): Literal | undefined {
  switch (field) {
    case 'Id':
      return stored.id
    case 'MetaData.CreateTime':
      return stored.createdMs
    case 'MetaData.LastUpdatedTime':
      return stored.updatedMs
    case 'CustomerRef':
      return (stored.object.CustomerRef as { value?: string } | undefined)?.value
    case 'PrimaryEmailAddr':
      return (stored.object.PrimaryEmailAddr as { Address?: string } | undefined)?.Address
    default: {
      const value = stored.object[field]
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined
    }
  }
}

function coerce(field: string, literal: Literal): Literal {
  if (TIME_FIELDS.has(field)) return parseIntuitTime(String(literal))
  if (NUMBER_FIELDS.has(field)) return Number(literal)
  if (field === 'Active') return literal === true || literal === 'true'
  return typeof literal === 'string' ? literal.toLowerCase() : literal
}

function compare(a: Literal, b: Literal): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0
}

function matches(stored: StoredEntity, condition: Condition): boolean {
  const raw = fieldValue(stored, condition.field)
  if (raw === undefined) return false
  const actual = typeof raw === 'string' ? raw.toLowerCase() : raw
  const values = condition.values.map((value) => coerce(condition.field, value))
  const first = values[0] as Literal
  switch (condition.op) {
    case '=':
      return compare(actual, first) === 0
    case '!=':
      return compare(actual, first) !== 0
    case '<':
      return compare(actual, first) < 0
    case '>':
      return compare(actual, first) > 0
    case '<=':
      return compare(actual, first) <= 0
    case '>=':
      return compare(actual, first) >= 0
    case 'IN':
      return values.some((value) => compare(actual, value) === 0)
    case 'LIKE': {
      const pattern = String(first)
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/%/g, '.*')
      return new RegExp(`^${pattern}$`, 'i').test(String(actual))
    }
  }
}

function project(object: QboObject, fields: string[]): QboObject {
  const out: QboObject = { domain: object.domain, sparse: true, Id: object.Id }
  for (const field of fields) {
    const top = field.split('.')[0] as string
    const key = Object.keys(object).find((candidate) => candidate.toLowerCase() === top.toLowerCase())
    if (key) out[key] = object[key]
  }
  return out
}

/** Runs a parsed query; returns the `QueryResponse` object. */
export function executeQuery(realm: QboRealm, query: ParsedQuery): QboObject {
  const filtersActive = query.where.some((condition) => condition.field === 'Active')
  const hideInactive = SOFT_DELETED.has(query.entity) && !filtersActive
  const selected: StoredEntity[] = []
  for (const stored of realm.records(query.entity).values()) {
    if (hideInactive && stored.object.Active === false) continue
    if (query.where.every((condition) => matches(stored, condition))) selected.push(stored)
  }
  if (query.count) return { totalCount: selected.length }
  const orderedById = query.orderBy.length === 0 || (query.orderBy.length === 1 && query.orderBy[0]?.field === 'Id' && !query.orderBy[0].desc)
  if (!orderedById) {
    selected.sort((a, b) => {
      for (const order of query.orderBy) {
        const diff = compare(fieldValue(a, order.field) ?? '', fieldValue(b, order.field) ?? '')
        if (diff !== 0) return order.desc ? -diff : diff
      }
      return a.id - b.id
    })
  }
  const page = selected.slice(query.startPosition - 1, query.startPosition - 1 + query.maxResults)
  // An empty result is a bare `{}` in QuickBooks: no entity key, no counters.
  if (page.length === 0) return {}
  return {
    [query.entity]: page.map((stored) => (query.fields ? project(stored.object, query.fields) : stored.object)),
    startPosition: query.startPosition,
    maxResults: page.length,
  }
}
