// A venue as auditors may see it: in the caller's venue scope, and known to compliance-service.
import type { Knex } from 'knex'
import { NotFoundError } from '@hub/contracts'
import { canReadVenue, type Principal } from '@hub/service-kit'
import type { AuditLogStore } from './audit-log-store.ts'
import type { SyncLogStore } from './sync-log-store.ts'

export class VenueNotFoundError extends NotFoundError {
  constructor() {
    super('VENUE_NOT_FOUND', 'No such venue in your tenant.')
  }
}

export function checkVenue(principal: Principal, venueId: string): void {
  // A venue outside a scoped user's venue_ids looks exactly like one that does not exist.
  if (!canReadVenue(principal, venueId)) throw new VenueNotFoundError()
}

/**
 * Whether this tenant has a venue with this id, from compliance's own records (row-level security
 * scopes both to the tenant): venue-service audits every venue it creates, and every sync run names
 * its venue. A deleted venue stays known, so its history remains readable to auditors; a venue
 * created a moment ago becomes known once its audit event is relayed.
 */
export async function requireKnownVenue(trx: Knex.Transaction, stores: { syncLogs: Pick<SyncLogStore, 'knowsVenue'>; auditLog: Pick<AuditLogStore, 'knowsVenue'> }, venueId: string): Promise<void> {
  if ((await stores.syncLogs.knowsVenue(trx, venueId)) || (await stores.auditLog.knowsVenue(trx, venueId))) return
  throw new VenueNotFoundError()
}
