// node-postgres sends a JavaScript array as a Postgres array, so jsonb values are written as JSON
// text. Row types describe a column as it reads back; this lets a write say so in one place
// instead of casting at every insert.
/** A jsonb column's value, sent as JSON text, typed as the column reads back. */
export function jsonb<T>(value: T): T {
  return JSON.stringify(value) as unknown as T
}
