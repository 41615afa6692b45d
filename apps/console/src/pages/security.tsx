// Security events of the tenant (and, for operators, those of no tenant), each resolvable by an admin.
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { api, call } from '../api/client.ts'
import { isAdmin, type Session } from '../auth/session.ts'
import { Badge, ErrorNote, Loading, Section, useAction, useLoad, when } from '../ui.tsx'

export function SecurityPage({ session }: { session: Session }): JSX.Element {
  const [scope, setScope] = useState<'tenant' | 'system'>('tenant')
  const events = useLoad(() => call(api.GET('/api/v1/compliance/security-events', { params: { query: { limit: 100, ...(scope === 'system' ? { scope } : {}) } as never } })), [scope])
  const action = useAction()
  return (
    <>
      <h1>Security events</h1>
      <Section
        title="Refusals and suspicious access"
        actions={
          <button type="button" onClick={events.reload}>
            Refresh
          </button>
        }
      >
        <label>
          Show{' '}
          <select value={scope} onChange={(e) => setScope(e.currentTarget.value as 'tenant' | 'system')}>
            <option value="tenant">this tenant</option>
            <option value="system">no tenant (operators)</option>
          </select>
        </label>
        {events.loading && !events.data ? <Loading what="security events" /> : null}
        <ErrorNote error={events.error ?? action.error} />
        <div class="table-wrap" tabIndex={0}>
          <table>
            <caption class="sr-only">Security events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Last seen</th>
                <th scope="col">Type</th>
                <th scope="col">Severity</th>
                <th scope="col">Code</th>
                <th scope="col">Count</th>
                <th scope="col">Where</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {(events.data?.data ?? []).map((event) => (
                <tr key={event.id} data-testid="security-event">
                  <td>{when(event.lastSeenAt)}</td>
                  <td>{event.type}</td>
                  <td>
                    <Badge status={event.severity === 'high' || event.severity === 'critical' ? 'error' : event.severity === 'medium' ? 'pending' : 'muted'} /> {event.severity}
                  </td>
                  <td>
                    <code>{event.code}</code>
                  </td>
                  <td>{event.count}</td>
                  <td>
                    {event.method} <code>{event.path}</code> <span class="muted">{event.ip}</span>
                  </td>
                  <td>
                    {event.resolvedAt ? (
                      `resolved ${when(event.resolvedAt)}`
                    ) : isAdmin(session) ? (
                      <button
                        type="button"
                        disabled={action.busy}
                        onClick={() =>
                          action.run(async () => {
                            await call(api.POST('/api/v1/compliance/security-events/{id}/resolve', { params: { path: { id: event.id } }, body: { note: 'Reviewed in the console' } }))
                            events.reload()
                          })
                        }
                      >
                        Resolve
                      </button>
                    ) : (
                      'open'
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  )
}
