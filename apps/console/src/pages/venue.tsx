// One venue: its connections, syncs with live progress, sync history, records, field mappings and
// integration settings. Write actions appear only for those who may take them.
import type { JSX } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, call, download } from '../api/client.ts'
import { canManage, isAdmin, type Session } from '../auth/session.ts'
import { Badge, ErrorNote, Link, Loading, Section, useAction, useLoad, when } from '../ui.tsx'

export const PROVIDERS = ['stripe', 'square', 'mailchimp', 'quickbooks'] as const
export type Provider = (typeof PROVIDERS)[number]
const ENTITIES: Record<Provider, Entity[]> = {
  stripe: ['customer', 'payment', 'product', 'invoice'],
  square: ['customer', 'payment', 'product'],
  mailchimp: ['contact'],
  quickbooks: ['customer', 'invoice', 'payment', 'product'],
}
type Entity = 'customer' | 'payment' | 'product' | 'invoice' | 'contact'
const NAMES: Record<Provider, string> = { stripe: 'Stripe', square: 'Square', mailchimp: 'Mailchimp', quickbooks: 'QuickBooks' }
const API_KEY_HINT: Record<Provider, string> = { stripe: 'sk_test_…', square: 'personal access token', mailchimp: 'key-us1', quickbooks: 'not supported: use OAuth' }
const TABS = [
  ['connections', 'Connections'],
  ['sync', 'Sync'],
  ['records', 'Records'],
  ['mappings', 'Field mappings'],
  ['settings', 'Settings'],
] as const

export function VenuePage({ session, venueId, tab }: { session: Session; venueId: string; tab: string }): JSX.Element {
  const venue = useLoad(() => call(api.GET('/api/v1/venues/{id}', { params: { path: { id: venueId } } })), [venueId])
  const connections = useLoad(() => call(api.GET('/api/v1/integrations/connections', { params: { query: { venueId, limit: 100 } } })), [venueId])
  const writable = canManage(session, venueId)
  const live = (connections.data?.data ?? []).filter((c) => c.status !== 'disconnected')
  return (
    <>
      <p>
        <Link href="/venues">← Venues</Link>
      </p>
      <h1>{venue.data?.name ?? 'Venue'}</h1>
      <ErrorNote error={venue.error} />
      <nav aria-label="Venue sections" class="tabs">
        <ul>
          {TABS.map(([key, label]) => (
            <li key={key}>
              <Link href={`/venues/${venueId}/${key}`} current={tab === key}>
                {label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      {tab === 'connections' ? <Connections venueId={venueId} writable={writable} connections={connections} /> : null}
      {tab === 'sync' ? <Sync venueId={venueId} writable={writable} connections={live} /> : null}
      {tab === 'records' ? <Records venueId={venueId} /> : null}
      {tab === 'mappings' ? <Mappings writable={writable && isAdmin(session)} /> : null}
      {tab === 'settings' ? <Settings writable={isAdmin(session)} /> : null}
    </>
  )
}

type ConnectionList = Awaited<ReturnType<typeof listConnections>>
const listConnections = (venueId: string) => call(api.GET('/api/v1/integrations/connections', { params: { query: { venueId, limit: 100 } } }))

function Connections({ venueId, writable, connections }: { venueId: string; writable: boolean; connections: ReturnType<typeof useLoad<ConnectionList>> }): JSX.Element {
  const [provider, setProvider] = useState<Provider>('stripe')
  const [apiKey, setApiKey] = useState('')
  const [notice, setNotice] = useState('')
  const action = useAction()
  const waiting = useRef<number | null>(null)
  useEffect(() => () => void (waiting.current !== null && clearInterval(waiting.current)), [])

  const connectByOAuth = () =>
    action.run(async () => {
      const { authorizeUrl } = await call(api.GET('/api/v1/integrations/oauth/{provider}/authorize', { params: { path: { provider }, query: { venueId } } }))
      const popup = window.open(authorizeUrl, 'provider-consent', 'popup,width=520,height=640')
      if (!popup) {
        location.assign(authorizeUrl)
        return
      }
      setNotice(`Waiting for ${NAMES[provider]} to confirm…`)
      const chosen = provider
      const deadline = Date.now() + 120_000
      if (waiting.current !== null) clearInterval(waiting.current)
      // The consent window ends on another origin, so the console watches for the connection instead.
      waiting.current = window.setInterval(() => {
        void listConnections(venueId).then((list) => {
          const done = list.data.find((c) => c.provider === chosen && c.authType === 'oauth2' && c.status === 'active')
          if (done || Date.now() > deadline) {
            if (waiting.current !== null) clearInterval(waiting.current)
            waiting.current = null
            setNotice(done ? `${NAMES[chosen]} connected.` : `${NAMES[chosen]} did not confirm within two minutes.`)
            connections.reload()
          }
        })
      }, 1000)
    })

  return (
    <>
      <Section title="Connections">
        {connections.loading && !connections.data ? <Loading what="connections" /> : null}
        <ErrorNote error={connections.error} />
        {connections.data && connections.data.data.length === 0 ? <p>No provider is connected yet.</p> : null}
        <div class="table-wrap" tabIndex={0}>
          <table>
            <caption class="sr-only">Provider connections of this venue</caption>
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">Status</th>
                <th scope="col">Account</th>
                <th scope="col">Credentials</th>
                {writable ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {(connections.data?.data ?? []).map((c) => (
                <tr key={c.id} data-testid={`connection-${c.provider}`}>
                  <td>{NAMES[c.provider]}</td>
                  <td>
                    <Badge status={c.status} />
                    {c.statusReason ? <span class="muted"> {c.statusReason}</span> : null}
                  </td>
                  <td>{c.accountName ?? c.accountId ?? '—'}</td>
                  <td>
                    <code>
                      {Object.entries(c.credentials)
                        .map(([k, v]) => `${k}: ${v}`)
                        .join(', ') || (c.authType === 'oauth2' ? 'OAuth' : '—')}
                    </code>
                  </td>
                  {writable ? (
                    <td class="actions">
                      {c.status !== 'disconnected' ? (
                        <>
                          <button
                            type="button"
                            disabled={action.busy}
                            onClick={() =>
                              action.run(async () => {
                                const result = await call(api.POST('/api/v1/integrations/connections/{id}/test', { params: { path: { id: c.id } } }))
                                setNotice(`${NAMES[c.provider]}: test ${JSON.stringify(result).includes('"ok":true') ? 'passed' : 'done'}.`)
                                connections.reload()
                              })
                            }
                          >
                            Test
                          </button>
                          <button
                            type="button"
                            class="danger"
                            disabled={action.busy}
                            onClick={() =>
                              confirm(`Disconnect ${NAMES[c.provider]}? Its credentials are destroyed.`) &&
                              action.run(async () => {
                                await call(api.DELETE('/api/v1/integrations/connections/{id}', { params: { path: { id: c.id } } }))
                                connections.reload()
                              })
                            }
                          >
                            Disconnect
                          </button>
                        </>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {notice ? <p role="status">{notice}</p> : null}
        <ErrorNote error={action.error} />
      </Section>
      {writable ? (
        <Section title="Connect a provider">
          <form
            class="form"
            onSubmit={(event) => {
              event.preventDefault()
              void action.run(async () => {
                await call(api.POST('/api/v1/integrations/connections', { body: { venueId, provider, credentials: { apiKey } } }))
                setApiKey('')
                setNotice(`${NAMES[provider]} connected.`)
                connections.reload()
              })
            }}
          >
            <label>
              Provider
              <select value={provider} onChange={(e) => setProvider(e.currentTarget.value as Provider)}>
                {PROVIDERS.map((p) => (
                  <option key={p} value={p}>
                    {NAMES[p]}
                  </option>
                ))}
              </select>
            </label>
            <label>
              API key <input type="password" autoComplete="off" value={apiKey} placeholder={API_KEY_HINT[provider]} onInput={(e) => setApiKey(e.currentTarget.value)} />
            </label>
            <div class="row">
              <button type="submit" class="primary" disabled={action.busy || apiKey === ''}>
                Connect with API key
              </button>
              <button type="button" disabled={action.busy} onClick={() => void connectByOAuth()}>
                Connect {NAMES[provider]} with OAuth
              </button>
            </div>
          </form>
        </Section>
      ) : null}
    </>
  )
}

interface Progress {
  percent?: number | null
  fetched?: number
  created?: number
  updated?: number
}

function JobProgress({ jobId, label, writable, onDone }: { jobId: string; label: string; writable: boolean; onDone: () => void }): JSX.Element {
  const [job, setJob] = useState<{ state: string; progress: Progress; failedReason: string | null } | null>(null)
  const [error, setError] = useState<unknown>(null)
  const cancel = useAction()
  useEffect(() => {
    let live = true
    let timer: number | undefined
    const poll = async () => {
      try {
        const current = await call(api.GET('/api/v1/integrations/sync/jobs/{id}', { params: { path: { id: jobId } } }))
        if (!live) return
        const progress = (typeof current.progress === 'object' && current.progress !== null ? current.progress : { percent: typeof current.progress === 'number' ? current.progress : 0 }) as Progress
        setJob({ state: current.state, progress, failedReason: current.failedReason })
        if (['completed', 'failed'].includes(current.state)) return onDone()
      } catch (caught) {
        if (live) setError(caught)
      }
      if (live) timer = window.setTimeout(() => void poll(), 500)
    }
    void poll()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [jobId])
  const percent = job?.state === 'completed' ? 100 : Math.max(0, Math.min(100, job?.progress.percent ?? 0))
  return (
    <div class="job" data-testid="sync-job">
      <label>
        {label}: <strong data-testid="sync-percent">{percent} %</strong> <Badge status={job?.state ?? 'waiting'} />
        <progress max={100} value={percent} aria-label={`${label} progress`} />
      </label>
      <span class="muted">{job?.progress.fetched !== undefined ? `${job.progress.fetched} fetched` : ''}</span>
      {writable && job && !['completed', 'failed'].includes(job.state) ? (
        <button type="button" disabled={cancel.busy} onClick={() => cancel.run(() => call(api.POST('/api/v1/integrations/sync/jobs/{id}/cancel', { params: { path: { id: jobId } } })))}>
          Cancel
        </button>
      ) : null}
      {job?.failedReason ? <p class="error">{job.failedReason}</p> : null}
      <ErrorNote error={error ?? cancel.error} />
    </div>
  )
}

type LiveConnection = ConnectionList['data'][number]

function Sync({ venueId, writable, connections }: { venueId: string; writable: boolean; connections: LiveConnection[] }): JSX.Element {
  const [jobs, setJobs] = useState<{ jobId: string; label: string }[]>([])
  const action = useAction()
  const history = useLoad(() => call(api.GET('/api/v1/integrations/sync-logs', { params: { query: { venueId, limit: 50 } } })), [venueId])
  const start = (provider: Provider, entity: Entity) =>
    action.run(async () => {
      const enqueued = await call(api.POST('/api/v1/integrations/sync/{provider}/sync', { params: { path: { provider } }, body: { venueId, entities: [entity] } }))
      setJobs((current) => [...enqueued.jobs.map((j) => ({ jobId: j.jobId, label: `${NAMES[provider]} ${j.entity}` })), ...current])
    })
  return (
    <>
      <Section title="Sync now">
        {connections.length === 0 ? <p>Connect a provider first.</p> : null}
        {connections.map((c) => (
          <div key={c.id} class="row wrap">
            <strong>{NAMES[c.provider]}</strong>
            {writable ? (
              ENTITIES[c.provider].map((entity) => (
                <button key={entity} type="button" disabled={action.busy || c.status !== 'active'} onClick={() => void start(c.provider, entity)}>
                  Sync {entity}s
                </button>
              ))
            ) : (
              <span class="muted">read only</span>
            )}
          </div>
        ))}
        <ErrorNote error={action.error} />
        {jobs.map((j) => (
          <JobProgress key={j.jobId} jobId={j.jobId} label={j.label} writable={writable} onDone={history.reload} />
        ))}
      </Section>
      <Section
        title="Sync history"
        actions={
          <button type="button" onClick={history.reload}>
            Refresh
          </button>
        }
      >
        <ErrorNote error={history.error} />
        <div class="table-wrap" tabIndex={0}>
          <table>
            <caption class="sr-only">Sync runs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Provider</th>
                <th scope="col">Entity</th>
                <th scope="col">Status</th>
                <th scope="col">Counts</th>
                <th scope="col">Duration</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {(history.data?.data ?? []).map((log) => (
                <tr key={log.id}>
                  <td>{when(log.startedAt ?? log.createdAt)}</td>
                  <td>{log.provider}</td>
                  <td>{log.entity}</td>
                  <td>
                    <Badge status={log.status} />
                  </td>
                  <td>{`+${log.counts.created} ~${log.counts.updated} =${log.counts.unchanged} −${log.counts.deleted} ✗${log.counts.failed}`}</td>
                  <td>{log.startedAt && log.finishedAt ? `${((Date.parse(log.finishedAt) - Date.parse(log.startedAt)) / 1000).toFixed(1)} s` : '—'}</td>
                  <td>{log.errorMessage ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  )
}

function Records({ venueId }: { venueId: string }): JSX.Element {
  const [provider, setProvider] = useState<Provider | ''>('')
  const [entity, setEntity] = useState<Entity | ''>('customer')
  const [search, setSearch] = useState('')
  const [since, setSince] = useState<string | null>(null)
  const [mark, setMark] = useState<string | null>(null)
  const records = useLoad(
    () => call(api.GET('/api/v1/integrations/records', { params: { query: { venueId, limit: 1000, includeRaw: false, ...(provider ? { provider } : {}), ...(entity ? { entity } : {}), ...(since ? { cursor: since } : {}) } } })),
    [venueId, provider, entity, since],
  )
  const needle = search.trim().toLowerCase()
  const rows = (records.data?.data ?? []).filter((r) => !needle || `${r.externalId} ${JSON.stringify(r.data)}`.toLowerCase().includes(needle))
  // "This point" is the end of the feed, not of the page shown: read on from the page's
  // resumeCursor to the last page, whose resumeCursor is where later changes start.
  const [marking, setMarking] = useState(false)
  const rememberNow = async (): Promise<void> => {
    let cursor: string | undefined = records.data?.resumeCursor
    if (!cursor) return
    setMarking(true)
    try {
      for (let more = records.data?.nextCursor !== null; more;) {
        const next: { resumeCursor: string; nextCursor: string | null } = await call(
          api.GET('/api/v1/integrations/records', { params: { query: { venueId, limit: 1000, includeRaw: false, ...(provider ? { provider } : {}), ...(entity ? { entity } : {}), cursor } } }),
        )
        cursor = next.resumeCursor
        more = next.nextCursor !== null
      }
      setMark(cursor ?? null)
    } finally {
      setMarking(false)
    }
  }
  return (
    <Section title="Records">
      <form class="form inline" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Provider
          <select value={provider} onChange={(e) => setProvider(e.currentTarget.value as Provider | '')}>
            <option value="">all</option>
            {PROVIDERS.map((p) => (
              <option key={p} value={p}>
                {NAMES[p]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Entity
          <select value={entity} onChange={(e) => setEntity(e.currentTarget.value as Entity | '')}>
            <option value="">all</option>
            {(['customer', 'payment', 'product', 'invoice', 'contact'] as const).map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search <input type="search" value={search} placeholder="name, email, id…" onInput={(e) => setSearch(e.currentTarget.value)} />
        </label>
      </form>
      <div class="row wrap">
        <button type="button" onClick={() => void rememberNow()} disabled={!records.data || marking}>
          Remember this point
        </button>
        <button type="button" disabled={!mark} onClick={() => setSince(mark)}>
          Show changes since then
        </button>
        {since ? (
          <button type="button" onClick={() => setSince(null)}>
            Show everything
          </button>
        ) : null}
        <span class="muted">{since ? 'Only records changed (or deleted) since the remembered point.' : ''}</span>
      </div>
      {records.loading && !records.data ? <Loading what="records" /> : null}
      <ErrorNote error={records.error} />
      <div class="table-wrap" tabIndex={0}>
        <table>
          <caption class="sr-only">Synced records</caption>
          <thead>
            <tr>
              <th scope="col">Provider</th>
              <th scope="col">Entity</th>
              <th scope="col">External id</th>
              <th scope="col">Data</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.connectionId}:${r.entity}:${r.externalId}`} class={r.deleted ? 'deleted' : ''}>
                <td>{r.provider}</td>
                <td>{r.entity}</td>
                <td>
                  <code>{r.externalId}</code> {r.deleted ? <Badge status="deleted" /> : null}
                </td>
                <td class="data">{summary(r.data)}</td>
                <td>{when(r.deleted ? r.deletedAt : r.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {records.data ? (
        <p class="muted">
          {rows.length} shown{records.data.nextCursor ? '; more exist — narrow the filters' : ''}.
        </p>
      ) : null}
    </Section>
  )
}

function summary(data: unknown): string {
  if (typeof data !== 'object' || data === null) return String(data ?? '')
  const record = data as Record<string, unknown>
  const person = [record.givenName, record.familyName].filter((part) => typeof part === 'string' && part !== '').join(' ')
  const picked = (person ? [person] : []).concat(['name', 'companyName', 'email', 'amount', 'currency', 'status'].filter((k) => record[k] !== undefined && record[k] !== null).map((k) => `${k}: ${String(record[k])}`))
  return picked.length ? picked.join(' · ') : JSON.stringify(data).slice(0, 160)
}

function Mappings({ writable }: { writable: boolean }): JSX.Element {
  const mappings = useLoad(() => call(api.GET('/api/v1/integrations/field-mappings', { params: { query: {} } })), [])
  const [form, setForm] = useState({ provider: 'stripe' as Provider, entity: 'customer' as Entity, sourcePath: '', targetField: '' })
  const action = useAction()
  return (
    <Section title="Field mappings">
      <p class="muted">
        Copy a provider field into the record's <code>custom</code> data at the next sync.
      </p>
      <ErrorNote error={mappings.error ?? action.error} />
      <ul class="list">
        {(mappings.data?.data ?? []).map((m) => (
          <li key={m.id}>
            {m.provider} {m.entity}: <code>{m.sourcePath}</code> → <code>custom.{m.targetField}</code> <span class="muted">({m.transform})</span>{' '}
            {writable ? (
              <button
                type="button"
                class="danger"
                onClick={() =>
                  action.run(async () => {
                    await call(api.DELETE('/api/v1/integrations/field-mappings/{id}', { params: { path: { id: m.id } } }))
                    mappings.reload()
                  })
                }
              >
                Remove
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {writable ? (
        <form
          class="form inline"
          onSubmit={(e) => {
            e.preventDefault()
            void action.run(async () => {
              await call(api.POST('/api/v1/integrations/field-mappings', { body: { ...form, transform: 'none' } }))
              mappings.reload()
            })
          }}
        >
          <label>
            Provider{' '}
            <select value={form.provider} onChange={(e) => setForm({ ...form, provider: e.currentTarget.value as Provider })}>
              {PROVIDERS.map((p) => (
                <option key={p} value={p}>
                  {NAMES[p]}
                </option>
              ))}
            </select>
          </label>
          <label>
            Entity{' '}
            <select value={form.entity} onChange={(e) => setForm({ ...form, entity: e.currentTarget.value as Entity })}>
              {ENTITIES[form.provider].map((x) => (
                <option key={x} value={x}>
                  {x}
                </option>
              ))}
            </select>
          </label>
          <label>
            Source path <input required value={form.sourcePath} placeholder="metadata.tier" onInput={(e) => setForm({ ...form, sourcePath: e.currentTarget.value })} />
          </label>
          <label>
            Target field <input required value={form.targetField} placeholder="tier" onInput={(e) => setForm({ ...form, targetField: e.currentTarget.value })} />
          </label>
          <button type="submit" class="primary" disabled={action.busy}>
            Add mapping
          </button>
        </form>
      ) : null}
    </Section>
  )
}

function show(value: unknown): string {
  return value === null || value === undefined ? '∅' : typeof value === 'string' ? value : JSON.stringify(value)
}

function Settings({ writable }: { writable: boolean }): JSX.Element {
  const [type, setType] = useState<Provider>('stripe')
  const current = useLoad(() => call(api.GET('/api/v1/integrations/settings/{type}', { params: { path: { type } } })), [type])
  const versions = useLoad(() => call(api.GET('/api/v1/integrations/settings/{type}/versions', { params: { path: { type }, query: { limit: 20 } } })), [type])
  const [key, setKey] = useState('syncSchedule')
  const [value, setValue] = useState('daily')
  const [importText, setImportText] = useState('')
  const action = useAction()
  const reload = () => {
    current.reload()
    versions.reload()
  }
  return (
    <>
      <Section title="Integration settings">
        <label>
          Integration{' '}
          <select value={type} onChange={(e) => setType(e.currentTarget.value as Provider)}>
            {PROVIDERS.map((p) => (
              <option key={p} value={p}>
                {NAMES[p]}
              </option>
            ))}
          </select>
        </label>
        <ErrorNote error={current.error ?? action.error} />
        {current.data ? (
          <>
            <p class="muted">
              Version {current.data.version}
              {current.data.updatedBy ? `, by ${current.data.updatedBy} on ${when(current.data.updatedAt)}` : ''}
            </p>
            <dl class="settings" data-testid="current-settings">
              {Object.entries(current.data.settings).map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>
                    <code>{show(v)}</code>
                  </dd>
                </div>
              ))}
            </dl>
          </>
        ) : null}
        {writable ? (
          <form
            class="form inline"
            onSubmit={(e) => {
              e.preventDefault()
              void action.run(async () => {
                let parsed: unknown = value
                try {
                  parsed = JSON.parse(value)
                } catch {
                  /* a bare word is a string */
                }
                await call(api.PATCH('/api/v1/integrations/settings/{type}', { params: { path: { type } }, body: { settings: { [key]: parsed } } }))
                reload()
              })
            }}
          >
            <label>
              Key <input required value={key} onInput={(e) => setKey(e.currentTarget.value)} />
            </label>
            <label>
              Value <input value={value} onInput={(e) => setValue(e.currentTarget.value)} />
            </label>
            <button type="submit" class="primary" disabled={action.busy}>
              Save setting
            </button>
          </form>
        ) : null}
        <div class="row wrap">
          <button type="button" onClick={() => action.run(() => download(`/api/v1/integrations/settings/${type}/export`, `${type}-settings.json`, 'application/json'))}>
            Export
          </button>
        </div>
        {writable ? (
          <form
            class="form"
            onSubmit={(e) => {
              e.preventDefault()
              void action.run(async () => {
                const document = JSON.parse(importText) as { settings: Record<string, unknown> }
                await call(api.POST('/api/v1/integrations/settings/{type}/import', { params: { path: { type } }, body: document }))
                setImportText('')
                reload()
              })
            }}
          >
            <label>
              Import an exported document <textarea rows={3} value={importText} onInput={(e) => setImportText(e.currentTarget.value)} />
            </label>
            <button type="submit" disabled={action.busy || importText === ''}>
              Import
            </button>
          </form>
        ) : null}
      </Section>
      <Section title="Version history">
        <ErrorNote error={versions.error} />
        <ol class="versions">
          {(versions.data?.data ?? []).map((v) => (
            <li key={v.version} data-testid={`settings-version-${v.version}`}>
              <p>
                <strong>Version {v.version}</strong>{' '}
                <span class="muted">
                  {v.kind}
                  {v.rolledBackFrom ? ` of version ${v.rolledBackFrom}` : ''} · {v.createdBy} · {when(v.createdAt)}
                </span>{' '}
                {writable && v.version !== current.data?.version ? (
                  <button
                    type="button"
                    disabled={action.busy}
                    onClick={() =>
                      action.run(async () => {
                        await call(api.POST('/api/v1/integrations/settings/{type}/versions/{version}/rollback', { params: { path: { type, version: v.version } }, body: {} }))
                        reload()
                      })
                    }
                  >
                    Roll back to version {v.version}
                  </button>
                ) : null}
              </p>
              <ul class="diff">
                {v.changes.map((c) => (
                  <li key={c.key} class={c.op}>
                    <code>{c.key}</code>:{' '}
                    {c.op === 'added' ? (
                      <ins>{show(c.after)}</ins>
                    ) : c.op === 'removed' ? (
                      <del>{show(c.before)}</del>
                    ) : (
                      <>
                        <del>{show(c.before)}</del> → <ins>{show(c.after)}</ins>
                      </>
                    )}
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ol>
      </Section>
    </>
  )
}
