// Audit events are written to the service's own outbox table in the same transaction as the
// change they describe: the change and its audit record commit together or not at all. A relay
// delivers the outbox to compliance-service.
import type { Knex } from 'knex'
import { maskEmailsIn } from '@hub/contracts'
import { SYSTEM_SCOPE, forceTenantRls } from './rls.ts'
import type { RequestContext } from './request-context.ts'

export interface AuditEvent {
  tenantId: string
  actorType: 'user' | 'service'
  actorId: string
  action: string
  entityType: string
  entityId: string
  before?: unknown
  after?: unknown
  requestId?: string | null
  ip?: string | null
}

const SECRET_KEY = /(secret|password|token|apikey|api_key|credential|signature|private)/i

/** Removes secret-looking members at any depth, so before/after images never carry one. */
export function stripSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSecrets)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !SECRET_KEY.test(key))
        .map(([key, inner]) => [key, stripSecrets(inner)]),
    )
  }
  return value
}

/**
 * A before/after image as the outbox stores it: secrets removed and emails masked. The audit log
 * is append-only, so personal data that reached it could never be erased for a data subject.
 */
export function auditImage(value: unknown): unknown {
  return maskEmailsIn(stripSecrets(value))
}

export type AuditActor = Pick<AuditEvent, 'tenantId' | 'actorType' | 'actorId' | 'requestId' | 'ip'>

/** Who did it, from the request context: the user behind the JWT. */
export function auditActor(ctx: RequestContext): AuditActor {
  return { tenantId: ctx.principal.tenantId, actorType: 'user', actorId: ctx.principal.userId, requestId: ctx.requestId, ip: ctx.ip }
}

export function createAuditOutbox(table: string) {
  return {
    async record(trx: Knex.Transaction, event: AuditEvent): Promise<void> {
      await trx(table).insert({
        tenant_id: event.tenantId,
        actor_type: event.actorType,
        actor_id: event.actorId,
        action: event.action,
        entity_type: event.entityType,
        entity_id: event.entityId,
        before: event.before === undefined ? null : JSON.stringify(auditImage(event.before)),
        after: event.after === undefined ? null : JSON.stringify(auditImage(event.after)),
        request_id: event.requestId ?? null,
        ip: event.ip ?? null,
      })
    },
  }
}

export type AuditOutbox = ReturnType<typeof createAuditOutbox>

/**
 * The outbox table every service keeps in its own schema (call from a migration whose search
 * path is that schema). Relays read it across tenants, hence the system read policy.
 */
export async function createAuditOutboxTable(knex: Knex, table = 'audit_outbox'): Promise<void> {
  await knex.raw(`
    create table ${table} (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      actor_type text not null check (actor_type in ('user', 'service')),
      actor_id text not null,
      action text not null,
      entity_type text not null,
      entity_id text not null,
      before jsonb,
      after jsonb,
      request_id text,
      ip text,
      occurred_at timestamptz not null default now(),
      delivered_at timestamptz
    );
    create index ${table}_undelivered_idx on ${table} (occurred_at) where delivered_at is null;
  `)
  await forceTenantRls(knex, table, { system: 'read' })
}

/**
 * Lets the relay mark rows delivered across tenants (and lock them with FOR UPDATE, which needs
 * an UPDATE policy too). Only `delivered_at` is ever changed by it.
 */
export async function allowAuditRelay(knex: Knex, table = 'audit_outbox'): Promise<void> {
  await knex.raw(`create policy system_deliver on ${table} for update using (${SYSTEM_SCOPE}) with check (${SYSTEM_SCOPE})`)
}
