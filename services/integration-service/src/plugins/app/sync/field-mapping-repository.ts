// Data access for field mappings: where a provider field lands in records (data.custom.<target>).
// Knex and nothing else.
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'
import type { FieldMapping, FieldTransform } from './field-mapping.ts'

export interface FieldMappingRow {
  id: string
  tenant_id: string
  provider: string
  entity: string
  source_path: string
  target_field: string
  transform: string
  created_at: Date
  updated_at: Date
}

export interface FieldMappingListFilter {
  provider?: string | undefined
  entity?: string | undefined
  /** Keyset: after this (provider, entity, target_field). */
  after?: { provider: string; entity: string; targetField: string } | undefined
  limit: number
}

const table = (trx: Knex.Transaction) => trx<FieldMappingRow>(INTEGRATION_TABLES.fieldMappings)

/** The mappings a run applies to one provider entity, in a stable order. */
export async function loadFieldMappings(trx: Knex.Transaction, provider: ProviderName, entity: EntityName): Promise<FieldMapping[]> {
  const rows = (await table(trx).select('source_path', 'target_field', 'transform').where({ provider, entity }).orderBy('target_field')) as Array<Pick<FieldMappingRow, 'source_path' | 'target_field'> & { transform: FieldTransform }>
  return rows.map((row) => ({ sourcePath: row.source_path, targetField: row.target_field, transform: row.transform }))
}

export function createFieldMappingRepository() {
  return {
    load: loadFieldMappings,

    async list(trx: Knex.Transaction, filter: FieldMappingListFilter): Promise<FieldMappingRow[]> {
      const q = table(trx).select('*')
      if (filter.provider) q.where('provider', filter.provider)
      if (filter.entity) q.where('entity', filter.entity)
      // (provider, entity, target_field) is unique per tenant: a total order for keyset paging.
      if (filter.after) q.whereRaw('(provider, entity, target_field) > (?, ?, ?)', [filter.after.provider, filter.after.entity, filter.after.targetField])
      return (await q.orderBy(['provider', 'entity', 'target_field']).limit(filter.limit)) as FieldMappingRow[]
    },

    async insert(trx: Knex.Transaction, row: Pick<FieldMappingRow, 'tenant_id' | 'provider' | 'entity' | 'source_path' | 'target_field' | 'transform'>): Promise<FieldMappingRow> {
      const [inserted] = await table(trx).insert(row).returning('*')
      return inserted as FieldMappingRow
    },

    async findById(trx: Knex.Transaction, id: string): Promise<FieldMappingRow | undefined> {
      return (await table(trx).where({ id }).first()) as FieldMappingRow | undefined
    },

    async update(trx: Knex.Transaction, id: string, patch: { sourcePath?: string | undefined; transform?: string | undefined }): Promise<FieldMappingRow> {
      const [row] = await table(trx)
        .where({ id })
        .update({ ...(patch.sourcePath ? { source_path: patch.sourcePath } : {}), ...(patch.transform ? { transform: patch.transform } : {}), updated_at: trx.fn.now() as unknown as Date })
        .returning('*')
      return row as FieldMappingRow
    },

    async delete(trx: Knex.Transaction, id: string): Promise<void> {
      await table(trx).where({ id }).delete()
    },
  }
}

export type FieldMappingRepository = ReturnType<typeof createFieldMappingRepository>
