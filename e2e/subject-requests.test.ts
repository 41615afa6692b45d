// Data-subject requests across the real processes: compliance-service runs an export and an erase
// of one person against integration-service's signed internal routes. The export holds every row
// a whole-database search finds about them; after the erase, no column of any table of any
// service's schema mentions their email, and a full re-sync from the simulator (which still has
// them) brings them back redacted.
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { searchDatabase } from '@hub/service-kit/testing'
import { hub } from './support/hub.ts'
import { eventually, scenario, startStack, type Json } from './support/stack.ts'

const stack = await startStack()
const h = hub(stack)

/** Waits for the request to end; its view. */
async function finished(id: string): Promise<Json> {
  return eventually(
    `subject request ${id} finished`,
    90_000,
    async () => {
      const view = await h.ok('GET', `/api/v1/compliance/subject-requests/${id}`)
      return view.status === 'succeeded' || view.status === 'failed' ? view : undefined
    },
    250,
  )
}

/** Rows per table that mention the needle, from the whole-database search. */
async function hitsByTable(needle: string): Promise<Map<string, number>> {
  const byTable = new Map<string, number>()
  for (const hit of await searchDatabase(stack.db.adminQuery, needle)) byTable.set(hit.table, Math.max(byTable.get(hit.table) ?? 0, hit.rows))
  return byTable
}

describe('data-subject requests', () => {
  scenario(
    'an export holds everything the hub has on a person; an erase leaves no trace of their email in any table, and it survives the next sync',
    async () => {
      const venueId = await h.createVenue('Subject Hall')
      const { connectionId } = await h.connectStripe(venueId)
      for (const entity of ['customer', 'payment']) {
        const { syncLogId } = await h.startSync(venueId, [entity])
        assert.equal((await h.finishedSync(connectionId, syncLogId, 90_000)).status, 'succeeded')
      }

      // A customer with a payment, whose email no other customer shares.
      const customers = await h.records(venueId, 'customer')
      const payments = await h.records(venueId, 'payment')
      const emailOf = (record: Json) => String(record.data?.email ?? '').toLowerCase()
      const person = customers.find((c) => emailOf(c) !== '' && payments.some((p) => p.data?.customerExternalId === c.externalId) && customers.filter((o) => emailOf(o) === emailOf(c)).length === 1)
      assert.ok(person, 'the simulator seeded a customer with a payment')
      const email = String(person.data.email)
      const before = await hitsByTable(email)
      assert.ok((before.get('integration.records') ?? 0) >= 2, `the customer and their payments mention the email: ${JSON.stringify([...before])}`)

      // Only admins: a manager (a request spans every venue) and a viewer are refused.
      for (const role of ['manager', 'viewer'] as const) {
        const refused = await stack.api('POST', '/api/v1/compliance/subject-requests', { token: stack.token({ roles: [role], venueIds: [venueId] }), body: { type: 'export', email } })
        assert.equal(refused.status, 403, JSON.stringify(refused.body))
      }
      const unnamed = await stack.api('POST', '/api/v1/compliance/subject-requests', { body: { type: 'export' } })
      assert.equal(unnamed.status, 400)
      assert.equal(unnamed.body.code, 'SUBJECT_IDENTIFIER_REQUIRED')

      // Export: a job with progress, then one document with every row the search found.
      const exportRequest = await h.ok('POST', '/api/v1/compliance/subject-requests', { type: 'export', email: email.toUpperCase() }, [202])
      assert.equal(exportRequest.status, 'queued')
      assert.notEqual(exportRequest.subject.emails[0], email, 'the view shows the email masked')
      const exported = await finished(exportRequest.id as string)
      assert.equal(exported.status, 'succeeded', JSON.stringify(exported))
      assert.equal(exported.progress, 100)
      const document = await h.ok('GET', `/api/v1/compliance/subject-requests/${exportRequest.id as string}/export`)
      const exportedRows = new Map<string, number>()
      for (const match of document.integration as Json[]) exportedRows.set(`integration.${match.table as string}`, (exportedRows.get(`integration.${match.table as string}`) ?? 0) + 1)
      for (const match of document.compliance as Json[]) exportedRows.set(`compliance.${match.table as string}`, (exportedRows.get(`compliance.${match.table as string}`) ?? 0) + 1)
      for (const [table, rows] of before) assert.ok((exportedRows.get(table) ?? 0) >= rows, `the export holds the ${rows} row(s) of ${table} that mention the email (it has ${exportedRows.get(table) ?? 0})`)
      assert.ok((document.integration as Json[]).some((match) => match.table === 'records' && match.key.externalId === person.externalId && match.data.data.email === email))
      assert.deepEqual(document.subject.linkedExternalIds, [person.externalId])

      // Erase: redacted everywhere, audited with masked values only.
      const eraseRequest = await h.ok('POST', '/api/v1/compliance/subject-requests', { type: 'erase', email }, [202])
      const erased = await finished(eraseRequest.id as string)
      assert.equal(erased.status, 'succeeded', JSON.stringify(erased))
      assert.ok(erased.outcome.integration.records >= 2, JSON.stringify(erased.outcome))
      assert.equal(erased.outcome.compliance.exports_cleared, 1)
      assert.equal(erased.outcome.compliance.audit_log_mentions, 0)
      assert.deepEqual([...(await hitsByTable(email))], [], 'after the erase: no table of any schema mentions the email')
      const gone = await stack.api('GET', `/api/v1/compliance/subject-requests/${exportRequest.id as string}/export`)
      assert.equal(gone.status, 409)
      assert.equal(gone.body.code, 'SUBJECT_EXPORT_ERASED')
      const trail = await h.auditTrail(eraseRequest.id as string)
      assert.deepEqual(trail.map((entry) => entry.action).sort(), ['subject_request.completed', 'subject_request.created'])
      assert.ok(JSON.stringify(trail).includes(String(eraseRequest.subject.emails[0])), 'the audit entries carry the masked email')
      const customer = (await h.records(venueId, 'customer')).find((record) => record.externalId === person.externalId)
      assert.equal(customer?.data.email, null)
      const paid = (await h.records(venueId, 'payment')).filter((record) => record.data?.customerExternalId === person.externalId)
      assert.ok(paid.length > 0, 'the person had payments')
      // By payment id: the erase rewrote these rows, so the change-ordered list may hold them in another order.
      const amountById = (list: typeof paid) => Object.fromEntries(list.map((record) => [record.externalId, record.data.amount]))
      assert.deepEqual(amountById(paid), amountById(payments.filter((record) => record.data?.customerExternalId === person.externalId)), 'amounts stay for the books')

      // The provider still has them: the next full sync stores them redacted.
      for (const entity of ['customer', 'payment']) {
        const { syncLogId } = await h.startSync(venueId, [entity])
        assert.equal((await h.finishedSync(connectionId, syncLogId, 90_000)).status, 'succeeded')
      }
      assert.deepEqual([...(await hitsByTable(email))], [], 'after the re-sync: still no trace')
      const verify = await h.ok('GET', '/api/v1/compliance/audit-log/verify')
      assert.equal(verify.ok, true, JSON.stringify(verify))
    },
    { timeout: 240_000 },
  )
})
