// For operators: queue counts with pause/resume, dead letters to retry or discard, circuit breakers
// to reset. No link to the bull-board dashboard: it takes the bearer token, which a new tab never
// carries (the token lives in this page's memory), so such a link could only show a 401.
import type { JSX } from 'preact'
import { api, call } from '../api/client.ts'
import { Badge, ErrorNote, Loading, Section, useAction, useLoad, when } from '../ui.tsx'

export function OperationsPage(): JSX.Element {
  const queues = useLoad(() => call(api.GET('/api/v1/integrations/admin/queue-counts')), [])
  const dead = useLoad(() => call(api.GET('/api/v1/integrations/admin/dead-letters', { params: { query: { limit: 50 } as never } })), [])
  const breakers = useLoad(() => call(api.GET('/api/v1/integrations/admin/circuit-breakers')), [])
  const action = useAction()
  const act = (work: () => Promise<unknown>, reload: () => void) =>
    action.run(async () => {
      await work()
      reload()
    })
  return (
    <>
      <h1>Operations</h1>
      <ErrorNote error={action.error} />
      <Section title="Queues">
        {queues.loading && !queues.data ? <Loading what="queues" /> : null}
        <ErrorNote error={queues.error} />
        <div class="table-wrap" tabIndex={0}>
          <table>
            <caption class="sr-only">Jobs per queue</caption>
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col">Waiting</th>
                <th scope="col">Active</th>
                <th scope="col">Delayed</th>
                <th scope="col">Failed</th>
                <th scope="col">Completed</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {(queues.data?.queues ?? []).map((q) => (
                <tr key={q.queue}>
                  <td>{q.queue}</td>
                  <td>{q.waiting}</td>
                  <td>{q.active}</td>
                  <td>{q.delayed}</td>
                  <td>{q.failed}</td>
                  <td>{q.completed}</td>
                  <td>
                    <Badge status={q.paused ? 'paused' : 'active'} />{' '}
                    <button
                      type="button"
                      disabled={action.busy}
                      onClick={() =>
                        act(
                          () =>
                            call(
                              q.paused
                                ? api.POST('/api/v1/integrations/admin/queue-control/{name}/resume', { params: { path: { name: q.key } } as never })
                                : api.POST('/api/v1/integrations/admin/queue-control/{name}/pause', { params: { path: { name: q.key } } as never }),
                            ),
                          queues.reload,
                        )
                      }
                    >
                      {q.paused ? 'Resume' : 'Pause'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
      <Section title="Dead letters">
        <ErrorNote error={dead.error} />
        {dead.data && dead.data.data.length === 0 ? <p>No dead letters.</p> : null}
        <ul class="list">
          {(dead.data?.data ?? []).map((d) => (
            <li key={d.id} data-testid="dead-letter">
              <code>{d.queue}</code> {d.jobName}
              {typeof d.payload.entity === 'string' ? ` ${d.payload.entity}` : ''}
              {typeof d.payload.connectionId === 'string' ? (
                <>
                  {' '}
                  of <code>{d.payload.connectionId.slice(0, 8)}</code>
                </>
              ) : null}{' '}
              · {d.attempts} attempts · {when(d.failedAt)} · {d.errorMessage ?? d.errorCode}{' '}
              {d.retriedAt || d.discardedAt ? (
                <span class="muted">{d.retriedAt ? 'retried' : 'discarded'}</span>
              ) : (
                <>
                  <button type="button" disabled={action.busy} onClick={() => act(() => call(api.POST('/api/v1/integrations/admin/dead-letters/{id}/retry', { params: { path: { id: d.id } } })), dead.reload)}>
                    Retry
                  </button>
                  <button type="button" class="danger" disabled={action.busy} onClick={() => act(() => call(api.DELETE('/api/v1/integrations/admin/dead-letters/{id}', { params: { path: { id: d.id } } })), dead.reload)}>
                    Discard
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      </Section>
      <Section title="Circuit breakers">
        <ErrorNote error={breakers.error} />
        {breakers.data && breakers.data.breakers.length === 0 ? <p>Every breaker is closed.</p> : null}
        <ul class="list">
          {(breakers.data?.breakers ?? []).map((b) => (
            <li key={b.connectionId} data-testid="breaker">
              {b.provider} <code>{b.connectionId.slice(0, 8)}</code> <Badge status={b.state} /> {b.failures} failures {b.lastError ? `· ${b.lastError}` : ''}{' '}
              <button
                type="button"
                disabled={action.busy}
                onClick={() => act(() => call(api.POST('/api/v1/integrations/admin/circuit-breakers/{connectionId}/reset', { params: { path: { connectionId: b.connectionId } } })), breakers.reload)}
              >
                Reset
              </button>
            </li>
          ))}
        </ul>
      </Section>
    </>
  )
}
