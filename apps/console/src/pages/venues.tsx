// Venues of the tenant (a manager's own only); admins create them here.
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { api, call } from '../api/client.ts'
import { isAdmin, type Session } from '../auth/session.ts'
import { ErrorNote, Link, Loading, Section, useAction, useLoad } from '../ui.tsx'

export function VenuesPage({ session }: { session: Session }): JSX.Element {
  const venues = useLoad(() => call(api.GET('/api/v1/venues', { params: { query: { limit: 100, sort: 'name' } } })), [])
  const [name, setName] = useState('')
  const [timezone, setTimezone] = useState('Europe/London')
  const [currency, setCurrency] = useState('GBP')
  const create = useAction()
  const visible = (venues.data?.data ?? []).filter((venue) => session.venueIds === null || session.venueIds.includes(venue.id))
  return (
    <>
      <h1>Venues</h1>
      <Section title="Your venues">
        {venues.loading && !venues.data ? <Loading what="venues" /> : null}
        <ErrorNote error={venues.error} />
        {venues.data && visible.length === 0 ? <p>No venues yet.</p> : null}
        <ul class="list">
          {visible.map((venue) => (
            <li key={venue.id}>
              <Link href={`/venues/${venue.id}`}>{venue.name}</Link>{' '}
              <span class="muted">
                {venue.timezone} · {venue.currency}
              </span>
            </li>
          ))}
        </ul>
      </Section>
      {isAdmin(session) ? (
        <Section title="Add a venue">
          <form
            class="form"
            onSubmit={(event) => {
              event.preventDefault()
              void create.run(async () => {
                await call(api.POST('/api/v1/venues', { body: { name, timezone, currency } }))
                setName('')
                venues.reload()
              })
            }}
          >
            <label>
              Name <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
            </label>
            <label>
              Time zone <input required value={timezone} onInput={(e) => setTimezone(e.currentTarget.value)} />
            </label>
            <label>
              Currency <input required maxLength={3} value={currency} onInput={(e) => setCurrency(e.currentTarget.value.toUpperCase())} />
            </label>
            <button type="submit" class="primary" disabled={create.busy}>
              Add venue
            </button>
          </form>
          <ErrorNote error={create.error} />
        </Section>
      ) : null}
    </>
  )
}
