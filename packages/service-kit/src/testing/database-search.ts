// A whole-database search for one string, for tests that must prove a value is gone: every
// column of every table that can hold text (text, varchar, json, jsonb, arrays), in every schema
// but Postgres's own, found from information_schema rather than a list that could go stale.
export interface DatabaseHit {
  table: string
  column: string
  rows: number
}

type AdminQuery = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>

const TEXTUAL = ['text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED', 'name']

export async function searchDatabase(adminQuery: AdminQuery, needle: string): Promise<DatabaseHit[]> {
  const columns = await adminQuery<{ table_schema: string; table_name: string; column_name: string }>(
    `select c.table_schema, c.table_name, c.column_name
       from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
      where c.table_schema not in ('pg_catalog', 'information_schema') and c.table_schema not like 'pg\\_%'
        and c.data_type = any($1::text[])
      order by 1, 2, 3`,
    [TEXTUAL],
  )
  const hits: DatabaseHit[] = []
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`
  for (const column of columns) {
    const [row] = await adminQuery<{ count: string }>(`select count(*)::text as count from ${quote(column.table_schema)}.${quote(column.table_name)} where strpos(lower(${quote(column.column_name)}::text), lower($1)) > 0`, [needle])
    const rows = Number(row?.count ?? 0)
    if (rows > 0) hits.push({ table: `${column.table_schema}.${column.table_name}`, column: column.column_name, rows })
  }
  return hits
}

/** How many textual columns the search covers (a test shows it is not vacuous). */
export async function searchableColumnCount(adminQuery: AdminQuery): Promise<number> {
  const [row] = await adminQuery<{ count: string }>(
    `select count(*)::text as count from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
      where c.table_schema not in ('pg_catalog', 'information_schema') and c.table_schema not like 'pg\\_%' and c.data_type = any($1::text[])`,
    [TEXTUAL],
  )
  return Number(row?.count ?? 0)
}
