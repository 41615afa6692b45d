// For auditors: the hash-chained audit log with filters and its integrity check, CSV export, and
// per-venue sync reports.
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { api, call, download } from '../api/client.ts'
import { ErrorNote, Link, Loading, Section, useAction, useLoad, when } from '../ui.tsx'

export function AuditPage({ tab }: { tab: string }): JSX.Element {
  return (
    <>
      <h1>Audit</h1>
      <nav aria-label="Audit sections" class="tabs">
        <ul>
          <li>
            <Link href="/audit/log" current={tab === 'log'}>
              Audit log
            </Link>
          </li>
          <li>
            <Link href="/audit/reports" current={tab === 'reports'}>
              Sync reports
            </Link>
          </li>
        </ul>
      </nav>
      {tab === 'reports' ? <Reports /> : <AuditLog />}
    </>
  )
}

function Integrity(): JSX.Element {
  const verify = useLoad(() => call(api.GET('/api/v1/compliance/audit-log/verify')), [])
  if (verify.loading)
    return (
      <span class="badge muted" role="status">
        checking integrity…
      </span>
    )
  if (verify.error || !verify.data) return <span class="badge bad">integrity unknown</span>
  return verify.data.ok ? (
    <span class="badge ok" data-testid="integrity" title={`head ${verify.data.headHash}`}>
      Chain intact · {verify.data.checked} entries verified
    </span>
  ) : (
    <span class="badge bad" data-testid="integrity">
      Chain broken at entry {verify.data.firstBroken?.seq} ({verify.data.firstBroken?.reason.replace('_', ' ')})
    </span>
  )
}

function AuditLog(): JSX.Element {
  const [filters, setFilters] = useState({ entityType: '', entityId: '', action: '', actorId: '' })
  const [applied, setApplied] = useState(filters)
  const [range, setRange] = useState({ from: new Date(Date.now() - 30 * 86400_000).toISOString().slice(0, 10), to: new Date(Date.now() + 86400_000).toISOString().slice(0, 10) })
  const query = Object.fromEntries(Object.entries(applied).filter(([, v]) => v.trim() !== ''))
  const log = useLoad(() => call(api.GET('/api/v1/compliance/audit-log', { params: { query: { limit: 100, ...query } } })), [JSON.stringify(applied)])
  const exporting = useAction()
  return (
    <>
      <Section title="Audit log" actions={<Integrity />}>
        <form
          class="form inline"
          role="search"
          onSubmit={(e) => {
            e.preventDefault()
            setApplied(filters)
            // Filter again with the same filters still fetches: new entries arrive all the time.
            log.reload()
          }}
        >
          {(['entityType', 'entityId', 'action', 'actorId'] as const).map((name) => (
            <label key={name}>
              {{ entityType: 'Entity type', entityId: 'Entity id', action: 'Action', actorId: 'Actor' }[name]}
              <input value={filters[name]} onInput={(e) => setFilters({ ...filters, [name]: e.currentTarget.value })} />
            </label>
          ))}
          <button type="submit" class="primary">
            Filter
          </button>
        </form>
        {log.loading && !log.data ? <Loading what="the audit log" /> : null}
        <ErrorNote error={log.error} />
        <div class="table-wrap" tabIndex={0}>
          <table>
            <caption class="sr-only">Audit entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Entity</th>
                <th scope="col">Request id</th>
              </tr>
            </thead>
            <tbody>
              {(log.data?.data ?? []).map((entry) => (
                <tr key={entry.eventId} data-testid="audit-entry">
                  <td>{entry.seq}</td>
                  <td>{when(entry.occurredAt)}</td>
                  <td>
                    {entry.actorId} <span class="muted">({entry.actorType})</span>
                  </td>
                  <td>
                    <code>{entry.action}</code>
                  </td>
                  <td>
                    {entry.entityType} <code class="muted">{entry.entityId.slice(0, 8)}</code>
                  </td>
                  <td>
                    <code class="muted">{entry.requestId ?? '—'}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
      <Section title="Export">
        <form
          class="form inline"
          onSubmit={(e) => {
            e.preventDefault()
            void exporting.run(() => download(`/api/v1/compliance/audit-log/export?from=${range.from}T00:00:00Z&to=${range.to}T00:00:00Z`, `audit-log-${range.from}-${range.to}.csv`))
          }}
        >
          <label>
            From <input type="date" value={range.from} onInput={(e) => setRange({ ...range, from: e.currentTarget.value })} />
          </label>
          <label>
            To <input type="date" value={range.to} onInput={(e) => setRange({ ...range, to: e.currentTarget.value })} />
          </label>
          <button type="submit" disabled={exporting.busy}>
            Download CSV
          </button>
        </form>
        <ErrorNote error={exporting.error} />
      </Section>
    </>
  )
}

function Reports(): JSX.Element {
  const venues = useLoad(() => call(api.GET('/api/v1/venues', { params: { query: { limit: 100, sort: 'name' } } })), [])
  const [venueId, setVenueId] = useState('')
  const from = '2020-01-01T00:00:00Z'
  const to = new Date(Date.now() + 86400_000).toISOString()
  const report = useLoad(async () => (venueId ? call(api.GET('/api/v1/compliance/venues/{venueId}/report', { params: { path: { venueId }, query: { from, to } } })) : null), [venueId])
  const exporting = useAction()
  // The route answers CSV too (Accept: text/csv); this page asks for JSON.
  const summary = report.data !== null && typeof report.data === 'object' ? report.data : null
  return (
    <Section title="Sync report per venue">
      <label>
        Venue{' '}
        <select value={venueId} onChange={(e) => setVenueId(e.currentTarget.value)}>
          <option value="">choose…</option>
          {(venues.data?.data ?? []).map((v) => (
            <option key={v.id} value={v.id}>
              {v.name}
            </option>
          ))}
        </select>
      </label>
      <ErrorNote error={report.error ?? venues.error ?? exporting.error} />
      {summary ? (
        <>
          <h3>Records moved</h3>
          <ul class="list">
            {Object.entries(summary.recordsMoved).map(([k, c]) => (
              <li key={k}>
                <code>{k}</code>: +{c.created} −{c.deleted} ✗{c.failed}
              </li>
            ))}
          </ul>
          <h3>Failures</h3>
          {summary.failures.length === 0 ? (
            <p>None.</p>
          ) : (
            <ul class="list">
              {summary.failures.map((f) => (
                <li key={f.syncLogId}>
                  {f.provider} {f.entity}: {f.errorMessage ?? f.status}
                </li>
              ))}
            </ul>
          )}
          <button type="button" onClick={() => exporting.run(() => download(`/api/v1/compliance/venues/${venueId}/report?from=${from}&to=${encodeURIComponent(to)}`, `sync-report-${venueId}.csv`))}>
            Download CSV
          </button>
        </>
      ) : null}
    </Section>
  )
}
