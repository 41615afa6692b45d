// Full then incremental runs of every entity of every provider, through the real queues and
// worker against the simulators: the records table must hold exactly the provider's live records
// after each run, and the sync log must count what happened.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, describe, test } from 'node:test'
import type { ServiceInstance } from '@hub/service-kit'
import type { EntityName, ProviderName } from '../../src/providers/canonical.ts'
import { setupSyncRig, sortedIds, type SyncRig } from './sync-rig.ts'

const PER_ENTITY = 40

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

interface ProviderScript {
  entities: EntityName[]
  /** The provider's live ids (null where the simulator only gives a count). */
  truth(accountId: string, entity: EntityName): Promise<{ ids: string[] | null; count: number }>
  create(accountId: string, entity: EntityName, count: number): Promise<string[]>
  update(accountId: string, entity: EntityName, id: string): Promise<void>
  remove: (accountId: string, entity: EntityName, id: string) => Promise<void>
  removable(entity: EntityName): boolean
  /** Deletions the provider never reports (no tombstones): only a full run's sweep finds them. */
  deletionsOnlyOnFull?: EntityName[]
  beforeIncremental?(): Promise<void>
}

const rig: SyncRig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: PER_ENTITY }, square: { recordsPerEntity: PER_ENTITY }, mailchimp: { recordsPerEntity: PER_ENTITY }, quickbooks: { recordsPerEntity: PER_ENTITY } } })
let app: ServiceInstance

function scripts(): Record<ProviderName, ProviderScript> {
  const { control } = rig
  return {
    stripe: {
      entities: ['customer', 'product', 'payment'],
      truth: async (account, entity) => {
        const ids = (await control('stripe', 'GET', `/_sim/accounts/${account}/${entity}`)).ids as string[]
        return { ids, count: ids.length }
      },
      create: async (account, entity, count) => (await control('stripe', 'POST', `/_sim/accounts/${account}/${entity}`, { count })).ids as string[],
      update: async (account, entity, id) => {
        const fields = entity === 'customer' ? { name: 'Renamed Patron' } : entity === 'product' ? { name: 'Renamed Show' } : { description: 'Updated by the sync test' }
        await control('stripe', 'PATCH', `/_sim/accounts/${account}/${entity}/${id}`, fields)
      },
      remove: async (account, entity, id) => {
        await control('stripe', 'DELETE', `/_sim/accounts/${account}/${entity}/${id}`)
      },
      removable: (entity) => entity !== 'payment',
    },
    square: {
      entities: ['customer', 'payment', 'product'],
      truth: async (account, entity) => ({ ids: null, count: Number((await control('square', 'GET', `/_sim/accounts/${account}`)).counts[entity]) }),
      create: async (account, entity, count) => (await control('square', 'POST', `/_sim/accounts/${account}/${entity}`, { count })).created as string[],
      update: async (account, entity, id) => {
        const fields = entity === 'customer' ? { given_name: 'Renamed' } : entity === 'product' ? { name: 'Renamed Item' } : { note: 'Updated by the sync test' }
        await control('square', 'PATCH', `/_sim/accounts/${account}/${entity}/${id}`, fields)
      },
      remove: async (account, entity, id) => {
        await control('square', 'DELETE', `/_sim/accounts/${account}/${entity}/${id}`)
      },
      removable: (entity) => entity !== 'payment',
      // Square keeps no customer tombstones.
      deletionsOnlyOnFull: ['customer'],
    },
    mailchimp: {
      entities: ['contact'],
      truth: async (account) => {
        const records = (await control('mailchimp', 'GET', `/_sim/accounts/${account}/contact`)).records as Json[]
        const ids = records.filter((record) => record.status !== 'archived').map((record) => record.id as string)
        return { ids, count: ids.length }
      },
      create: async (account, _entity, count) => ((await control('mailchimp', 'POST', `/_sim/accounts/${account}/contact`, { count })).created as Json[]).map((record) => record.id as string),
      update: async (account, _entity, id) => {
        await control('mailchimp', 'PATCH', `/_sim/accounts/${account}/contact/${id}`, { merge_fields: { FNAME: 'Renamed' } })
      },
      remove: async (account, _entity, id) => {
        await control('mailchimp', 'DELETE', `/_sim/accounts/${account}/contact/${id}`)
      },
      removable: () => true,
      // Mailchimp's change filter has one-second resolution: let the simulator's clock move on.
      beforeIncremental: async () => {
        await control('mailchimp', 'POST', '/_sim/clock', { advanceSeconds: 5 })
      },
    },
    quickbooks: {
      entities: ['customer', 'invoice', 'payment', 'product'],
      truth: async (account, entity) => {
        const records = (await control('quickbooks', 'GET', `/_sim/accounts/${account}/${entity}`)).records as Json[]
        // An inactive customer is QuickBooks' deletion.
        const ids = records.filter((record) => !(entity === 'customer' && record.Active === false)).map((record) => String(record.Id))
        return { ids, count: ids.length }
      },
      create: async (account, entity, count) => (await control('quickbooks', 'POST', `/_sim/accounts/${account}/${entity}`, { count })).ids as string[],
      update: async (account, entity, id) => {
        const fields = entity === 'customer' ? { DisplayName: `Renamed ${id}` } : entity === 'product' ? { Name: `Renamed item ${id}` } : { PrivateNote: 'Updated by the sync test' }
        await control('quickbooks', 'PATCH', `/_sim/accounts/${account}/${entity}/${id}`, fields)
      },
      remove: async (account, entity, id) => {
        await control('quickbooks', 'DELETE', `/_sim/accounts/${account}/${entity}/${id}`)
      },
      // Items are only deactivated in QuickBooks: they stay products with active=false.
      removable: (entity) => entity !== 'product',
    },
  }
}

before(async () => {
  app = await rig.build({}, { worker: true })
})

async function runAll(tenantId: string, venueId: string, connectionId: string, mode: 'full' | 'incremental'): Promise<Map<EntityName, Json>> {
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId, connectionId, mode, trigger: 'manual', queue: 'high' })
  const logs = new Map<EntityName, Json>()
  for (const job of jobs) logs.set(job.entity, await rig.waitForLog(job.syncLogId))
  return logs
}

async function assertMatches(provider: ProviderName, script: ProviderScript, accountId: string, connectionId: string, entity: EntityName, stage: string): Promise<number> {
  const truth = await script.truth(accountId, entity)
  const live = await rig.liveIds(connectionId, entity)
  if (truth.ids) assert.deepEqual(live, sortedIds(truth.ids), `${provider} ${entity} after the ${stage} run: records = the provider's live records`)
  else assert.equal(live.length, truth.count, `${provider} ${entity} after the ${stage} run: as many records as the provider has`)
  return truth.count
}

describe('full then incremental sync, every provider and entity', () => {
  for (const provider of ['stripe', 'square', 'mailchimp', 'quickbooks'] as const) {
    test(`${provider}: the records table holds exactly the provider's live records after each run`, async () => {
      const script = scripts()[provider]
      const tenantId = randomUUID()
      const account = await rig.account(provider)
      const connection = await rig.connect(app, { tenantId, provider, ...account })

      const full = await runAll(tenantId, connection.venueId, connection.id, 'full')
      assert.deepEqual([...full.keys()].sort(), [...script.entities].sort())
      const before = new Map<EntityName, number>()
      for (const entity of script.entities) {
        const log = full.get(entity) as Json
        assert.equal(log.status, 'succeeded', `${provider} ${entity}: ${String(log.error_code)} ${String(log.error_message)}`)
        assert.equal(log.mode, 'full')
        const count = await assertMatches(provider, script, account.accountId, connection.id, entity, 'full')
        assert.ok(count >= 10, `${provider} ${entity} has records to sync (${count})`)
        before.set(entity, count)
        assert.equal(log.records_created, count, `${provider} ${entity}: every record created once`)
        assert.equal(log.records_failed, 0)
      }

      // Changes at the provider: three new records, one changed, one deleted (where possible).
      const changes = new Map<EntityName, { created: string[]; updated: string; removed: string | null }>()
      for (const entity of script.entities) {
        const live = await rig.liveIds(connection.id, entity)
        const updated = live[1] as string
        const removed = script.removable(entity) ? (live[2] as string) : null
        await script.update(account.accountId, entity, updated)
        if (removed) await script.remove(account.accountId, entity, removed)
        const created = await script.create(account.accountId, entity, 3)
        changes.set(entity, { created, updated, removed })
      }
      await script.beforeIncremental?.()

      const incremental = await runAll(tenantId, connection.venueId, connection.id, 'incremental')
      for (const entity of script.entities) {
        const log = incremental.get(entity) as Json
        const change = changes.get(entity) as { created: string[]; updated: string; removed: string | null }
        assert.equal(log.status, 'succeeded', `${provider} ${entity}: ${String(log.error_code)} ${String(log.error_message)}`)
        assert.equal(log.mode, 'incremental')
        assert.ok(log.cursor_before, 'the run started from the previous cursor')
        const silent = change.removed !== null && (script.deletionsOnlyOnFull ?? []).includes(entity)
        const live = await rig.liveIds(connection.id, entity)
        const truth = await script.truth(account.accountId, entity)
        assert.equal(truth.count, (before.get(entity) as number) + 3 - (change.removed ? 1 : 0))
        assert.equal(live.length, truth.count + (silent ? 1 : 0), `${provider} ${entity}: records after the incremental run`)
        if (truth.ids && !silent) assert.deepEqual(live, sortedIds(truth.ids))
        assert.equal(log.records_created, 3, `${provider} ${entity}: the three new records`)
        assert.ok(log.records_updated >= 1, `${provider} ${entity}: the changed record is updated (${log.records_updated})`)
        assert.equal(log.records_deleted, change.removed && !silent ? 1 : 0, `${provider} ${entity}: the deletion`)
        const liveSet = new Set(live)
        for (const id of change.created) assert.ok(liveSet.has(id), `${provider} ${entity} ${id} created`)
        if (change.removed && !silent) {
          const [row] = await rig.db.adminQuery<Json>('select deleted_at from integration.records where connection_id = $1 and entity = $2 and external_id = $3', [connection.id, entity, change.removed])
          assert.ok(row?.deleted_at, `${provider} ${entity} ${change.removed} is marked deleted, not dropped`)
        }
        // Only what changed was rewritten: every other record kept its change sequence.
        const [rewritten] = await rig.db.adminQuery<{ count: string }>('select count(*) from integration.records where connection_id = $1 and entity = $2 and updated_at >= $3', [connection.id, entity, log.started_at])
        assert.equal(Number(rewritten?.count), log.records_created + log.records_updated + log.records_deleted, `${provider} ${entity}: unchanged records were not rewritten`)
      }

      // A full run again: nothing new, and what the provider deleted without telling is swept.
      const again = await runAll(tenantId, connection.venueId, connection.id, 'full')
      for (const entity of script.entities) {
        const log = again.get(entity) as Json
        const change = changes.get(entity) as { removed: string | null }
        const silent = change.removed !== null && (script.deletionsOnlyOnFull ?? []).includes(entity)
        assert.equal(log.status, 'succeeded')
        const count = await assertMatches(provider, script, account.accountId, connection.id, entity, 'second full')
        assert.deepEqual([log.records_created, log.records_updated, log.records_unchanged, log.records_deleted], [0, 0, count, silent ? 1 : 0], `${provider} ${entity}: second full run counts`)
      }
    })
  }
})
