// Where a person's email is mentioned, for data-subject requests in every service: the address as a
// whole, never as part of a longer one. A plain substring search took `joann@example.com` and
// `ann@example.com.au` for mentions of `ann@example.com`, so an erase nulled other people's records
// and an export handed them to the requester. One definition serves Postgres (a regular expression
// over a column's text, JSON included) and JavaScript (over decoded strings), so what the search
// finds and what the redaction replaces are the same mentions.

/** Characters an address's local part may hold (RFC 5322 atext, and the dot). */
const LOCAL_CHARS = "a-z0-9.!#$%&'*+/=?^_`{|}~-"

const escapeRegExp = (text: string) => text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')

/**
 * A string shaped like an address once trimmed: something, one `@`, something, no space. Emails
 * read from provider data pass this before they are searched for: `@` or `a@` alone would
 * otherwise be found in almost everything.
 */
export function plausibleEmail(value: unknown): value is string {
  return typeof value === 'string' && /^[^\s@]+@[^\s@]+$/.test(value.trim())
}

/** Not preceded by a local-part character, not followed by a domain character or a further label (`.au`). */
function jsPattern(email: string): string {
  return `(?<![${LOCAL_CHARS}])${escapeRegExp(email)}(?![a-z0-9_-]|\\.[a-z0-9])`
}

/**
 * The Postgres (ARE) pattern of one lower-case address over `lower(column::text)`. A JSON column's
 * text keeps escapes, so an address right after an escaped newline or tab (`\nann@…`) follows a
 * letter there: an escape counts as a boundary too. Postgres has lookahead but the group keeps the
 * left boundary portable.
 */
function sqlPattern(email: string): string {
  return `(^|[^${LOCAL_CHARS}]|\\\\[nrtbf])${escapeRegExp(email)}($|[^a-z0-9_.-]|\\.($|[^a-z0-9]))`
}

const normalize = (emails: readonly string[]) => [...new Set(emails.map((email) => email.trim().toLowerCase()).filter((email) => email !== ''))]

/** True when `text` mentions one of the (any-case) addresses as a whole address. */
export function mentionsEmail(text: string, emails: readonly string[]): boolean {
  const lower = text.toLowerCase()
  return normalize(emails).some((email) => lower.includes(email) && new RegExp(jsPattern(email), 'iu').test(text))
}

/** `text` with every whole-address mention of the (any-case) addresses replaced by `replacement`. */
export function replaceEmailMentions(text: string, emails: readonly string[], replacement: string): string {
  let out = text
  for (const email of normalize(emails)) {
    if (out.toLowerCase().includes(email)) out = out.replace(new RegExp(jsPattern(email), 'giu'), () => replacement)
  }
  return out
}

/**
 * SQL that is true when `column`'s text mentions one of the addresses; bind `mentionBindings(emails)`
 * at its place. `strpos` first: the cheap test rules out nearly every row before the pattern runs.
 */
export function mentionsSql(column: string): string {
  return `exists (select 1 from unnest(?::text[], ?::text[]) as e(v, p) where strpos(lower(${column}::text), e.v) > 0 and lower(${column}::text) ~ e.p)`
}

/** The two bindings of one `mentionsSql`: the lower-case addresses and their patterns. */
export function mentionBindings(emails: readonly string[]): [string[], string[]] {
  const lowered = normalize(emails)
  return [lowered, lowered.map(sqlPattern)]
}
