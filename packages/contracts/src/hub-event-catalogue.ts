// The catalogue of the events the hub publishes: for each type, the schema of its `data`, per
// version. Events carry identifiers, counts and codes, never a record's content: a consumer that
// needs a customer's details reads them through the API, where access is checked.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { FormatRegistry, TypeRegistry } from '@sinclair/typebox'
import { HUB_EVENT_TYPES, HubEventEnvelopeSchema, type HubEvent, type HubEventType } from './hub-event.ts'
import { CONNECTION_STATUSES, EntityNameSchema, ProviderNameSchema, SyncModeSchema, SyncTriggerSchema } from './sync-log.ts'
import { Nullable, StringEnum, UuidString } from './string-enum.ts'
import { RECONCILIATION_STATUSES } from './reconciliation.ts'

/** The most ids one `integration.records.changed` event carries per list; a larger write is split. */
export const RECORDS_CHANGED_MAX_IDS = 500

const DateTime = (description: string) => Type.String({ format: 'date-time', description })

const RunFields = {
  syncLogId: Type.String({ pattern: UuidString.pattern, description: 'The run (GET /api/v1/integrations/sync/logs lists it).' }),
  provider: ProviderNameSchema,
  entity: EntityNameSchema,
  kind: StringEnum(['pull', 'push', 'webhook'] as const, { description: 'pull: from the provider; push: to the provider; webhook: records a provider webhook announced.' }),
  mode: SyncModeSchema,
  trigger: SyncTriggerSchema,
}

const Counts = Type.Object(
  {
    fetched: Type.Integer({ minimum: 0 }),
    created: Type.Integer({ minimum: 0 }),
    updated: Type.Integer({ minimum: 0 }),
    unchanged: Type.Integer({ minimum: 0 }),
    deleted: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false, description: 'Records the run handled so far, by outcome.' },
)

const Finished = {
  counts: Counts,
  startedAt: Nullable(DateTime('When the run first started; null when it never started.')),
  finishedAt: DateTime('When the run ended.'),
  durationMs: Nullable(Type.Integer({ minimum: 0, description: 'finishedAt - startedAt; null when it never started.' })),
}

const ErrorInfo = Type.Object(
  {
    code: Type.String({ description: 'Stable code (e.g. PROVIDER_AUTH_FAILED, JOB_LOST).' }),
    message: Nullable(Type.String({ maxLength: 500, description: 'What the sync log says, shortened.' })),
  },
  { additionalProperties: false },
)

const IdList = (description: string) => Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: RECORDS_CHANGED_MAX_IDS, description })

interface CatalogueEntry {
  description: string
  versions: Record<number, TSchema>
}

export const HUB_EVENT_CATALOGUE = {
  'integration.sync.started': {
    description: 'A sync run started working (a retried run that resumes does not start again).',
    versions: { 1: Type.Object({ ...RunFields, startedAt: DateTime('When the run started.') }, { additionalProperties: false }) },
  },
  'integration.sync.completed': {
    description: 'A sync run finished; `partial` when some records could not be stored (counts.failed).',
    versions: { 1: Type.Object({ ...RunFields, status: StringEnum(['succeeded', 'partial'] as const), ...Finished }, { additionalProperties: false }) },
  },
  'integration.sync.failed': {
    description: 'A sync run failed for good (no retry left); what it wrote before stays.',
    versions: { 1: Type.Object({ ...RunFields, ...Finished, error: ErrorInfo }, { additionalProperties: false }) },
  },
  'integration.sync.cancelled': {
    description: 'A sync run was cancelled; what it wrote before stays.',
    versions: { 1: Type.Object({ ...RunFields, ...Finished }, { additionalProperties: false }) },
  },
  'integration.records.changed': {
    description: `Records a run (or a webhook) created, updated or deleted, by the provider's id; one event per write transaction of the run (ordered by sequence), at most ${RECORDS_CHANGED_MAX_IDS} ids per list. No record content.`,
    versions: {
      1: Type.Object(
        {
          syncLogId: Nullable(Type.String({ pattern: UuidString.pattern, description: 'The run that wrote them.' })),
          provider: ProviderNameSchema,
          entity: EntityNameSchema,
          created: IdList('Provider ids of records stored for the first time.'),
          updated: IdList('Provider ids of records whose content changed.'),
          deleted: IdList('Provider ids of records removed.'),
        },
        { additionalProperties: false },
      ),
    },
  },
  'integration.connection.status_changed': {
    description: 'A connection changed status, e.g. to needs_reauth when the provider refused its credentials.',
    versions: {
      1: Type.Object(
        {
          provider: ProviderNameSchema,
          previousStatus: StringEnum(CONNECTION_STATUSES),
          status: StringEnum(CONNECTION_STATUSES),
          reason: Nullable(Type.String({ maxLength: 500, description: 'Why, as the connection shows it.' })),
        },
        { additionalProperties: false },
      ),
    },
  },
  'integration.webhook.received': {
    description: 'A provider webhook was verified and stored (once per provider event id), published as it is handed to processing; its payload stays in the hub.',
    versions: {
      1: Type.Object(
        {
          inboxId: Type.String({ pattern: UuidString.pattern }),
          provider: ProviderNameSchema,
          eventType: Type.String({ maxLength: 255, description: 'The provider’s own type, e.g. customer.updated.' }),
          entity: Nullable(EntityNameSchema),
          externalId: Nullable(Type.String({ maxLength: 255, description: 'Provider id of the record concerned.' })),
        },
        { additionalProperties: false },
      ),
    },
  },
  'integration.reconciliation.completed': {
    description: 'A reconciliation run of the hub’s records against the provider finished (clean, with drift, or failed).',
    versions: {
      1: Type.Object(
        {
          runId: Type.String({ pattern: UuidString.pattern, description: 'The run (GET /api/v1/integrations/reconciliation/runs/:id shows it with its items).' }),
          provider: ProviderNameSchema,
          entity: EntityNameSchema,
          mode: StringEnum(['full', 'quick'] as const, { description: 'quick: counts and totals only.' }),
          trigger: Type.String({ maxLength: 32 }),
          status: StringEnum(RECONCILIATION_STATUSES),
          providerCount: Nullable(Type.Integer({ minimum: 0 })),
          hubCount: Nullable(Type.Integer({ minimum: 0 })),
          mismatches: Type.Object(
            {
              missingInHub: Type.Integer({ minimum: 0 }),
              missingAtProvider: Type.Integer({ minimum: 0 }),
              changed: Type.Integer({ minimum: 0 }),
              amountMismatch: Type.Integer({ minimum: 0 }),
            },
            { additionalProperties: false },
          ),
          repaired: Type.Integer({ minimum: 0 }),
          errorCode: Nullable(Type.String({ maxLength: 100 })),
          durationMs: Nullable(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    },
  },
  'integration.endpoint.disabled': {
    description:
      'One of the tenant’s outbound webhook endpoints kept failing and was disabled. `venueId` is the endpoint’s venue filter; for an endpoint of every venue (`venueFilter` null) it is the tenant’s own id, and `sequence` counts the tenant’s events of that kind.',
    versions: {
      1: Type.Object(
        {
          endpointId: Type.String({ pattern: UuidString.pattern }),
          venueFilter: Nullable(Type.String({ pattern: UuidString.pattern, description: 'The venue the endpoint was limited to; null: every venue of the tenant.' })),
          reason: StringEnum(['failing'] as const, { description: 'failing: every attempt failed for the configured time and number of times.' }),
          consecutiveFailures: Type.Integer({ minimum: 1 }),
          failingSince: Nullable(DateTime('The first failure since the last success.')),
          disabledAt: DateTime('When it was disabled.'),
        },
        { additionalProperties: false },
      ),
    },
  },
} as const satisfies Record<HubEventType, CatalogueEntry>

type Catalogue = typeof HUB_EVENT_CATALOGUE
/** The newest version of each type (what emitters write). */
export type HubEventData<T extends HubEventType> = Static<Catalogue[T]['versions'][1]>

export function latestVersion(type: HubEventType): number {
  return Math.max(...Object.keys(HUB_EVENT_CATALOGUE[type].versions).map(Number))
}

// TypeBox checks formats only when they are registered; the same test JSON Schema validators make.
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value)))

// StringEnum is an Unsafe schema (a plain `enum` in JSON Schema); the compiler checks it through
// the registry.
if (!TypeRegistry.Has('Unsafe')) {
  TypeRegistry.Set<{ type?: string; enum?: unknown[] }>('Unsafe', (schema, value) => (schema.enum ? schema.enum.includes(value) : true) && (schema.type === undefined || typeof value === schema.type))
}

const envelopeCheck = TypeCompiler.Compile(HubEventEnvelopeSchema)
const dataChecks = new Map<string, ReturnType<typeof TypeCompiler.Compile>>()
for (const type of HUB_EVENT_TYPES) {
  for (const [version, schema] of Object.entries(HUB_EVENT_CATALOGUE[type].versions)) dataChecks.set(`${type}@${version}`, TypeCompiler.Compile(schema as TSchema))
}

/** Why a value is not a hub event of the catalogue, or null when it is one. */
export function hubEventProblem(value: unknown): string | null {
  if (!envelopeCheck.Check(value)) {
    const first = envelopeCheck.Errors(value).First()
    return `envelope: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}`
  }
  return hubEventDataProblem(value.type, value.version, value.data)
}

/** Why `data` is not the data of `type` at `version`, or null: what an emitter can check before the relay gives the event its sequence. */
export function hubEventDataProblem(type: HubEventType, version: number, data: unknown): string | null {
  const check = dataChecks.get(`${type}@${version}`)
  if (!check) return `unknown version ${version} of ${type}`
  if (!check.Check(data)) {
    const first = check.Errors(data).First()
    return `data: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}`
  }
  return null
}

export const isHubEvent = (value: unknown): value is HubEvent => hubEventProblem(value) === null

/**
 * The whole catalogue as one JSON Schema document (draft 2020-12): `$defs` holds the envelope and
 * each type's data per version; the root is `oneOf` the events, so a validator given the document
 * checks any event the hub sends, on the bus or in a webhook body.
 */
export function hubEventCatalogueDocument(): Record<string, unknown> {
  const defs: Record<string, unknown> = { envelope: plain(HubEventEnvelopeSchema) }
  const variants: unknown[] = []
  const events: Record<string, unknown> = {}
  for (const type of HUB_EVENT_TYPES) {
    const entry = HUB_EVENT_CATALOGUE[type]
    const versions: number[] = []
    for (const [version, schema] of Object.entries(entry.versions)) {
      const name = `${type}.v${version}`
      versions.push(Number(version))
      defs[name] = { ...plain(schema), title: `${type} v${version} data`, description: entry.description }
      variants.push({
        title: `${type} v${version}`,
        allOf: [{ $ref: '#/$defs/envelope' }, { type: 'object', properties: { type: { const: type }, version: { const: Number(version) }, data: { $ref: `#/$defs/${name}` } }, required: ['type', 'version', 'data'] }],
      })
    }
    events[type] = { description: entry.description, family: type.split('.')[1], versions, latest: latestVersion(type) }
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://hub.example/api/v1/integrations/events/catalogue',
    title: 'Venue Integration Hub events',
    description:
      'Every event the hub publishes, on its internal bus and in tenant webhooks. Consumers switch on `type` and `version`; `sequence` is gapless and increasing per connection (per venue when connectionId is null). Events carry ids and counts, never record content.',
    'x-events': events,
    oneOf: variants,
    $defs: defs,
  }
}

// TypeBox schemas carry symbol keys (Kind); JSON drops them, so the document is plain JSON Schema.
const plain = (schema: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(schema)) as Record<string, unknown>
