// /api/v1/integrations/events/catalogue — every event the hub publishes (internal bus and tenant
// webhooks) as one JSON Schema document. Public: a tenant's developer builds a receiver from it
// before holding any token; it holds schemas only, nothing of any tenant.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { ProblemSchema, hubEventCatalogueDocument } from '@hub/contracts'

const tags = ['events']
// `$schema`, `$id` and `$defs` travel as additional properties: as property names they would read
// as keywords to the tools that walk this route's own schema.
const CatalogueSchema = Type.Object(
  {
    title: Type.String(),
    description: Type.String(),
    'x-events': Type.Record(Type.String(), Type.Object({ description: Type.String(), family: Type.String(), versions: Type.Array(Type.Integer()), latest: Type.Integer() })),
    oneOf: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
)
// Built once: the catalogue is code, it changes only with a release.
const document = hubEventCatalogueDocument() as Static<typeof CatalogueSchema>

const eventCatalogueRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/events/catalogue',
    {
      schema: {
        tags,
        security: [],
        summary: 'The event catalogue as a JSON Schema document (public)',
        description: 'Every event type with its `data` schema per version, the envelope they share, and `oneOf` over all of them: a validator given this document checks any event the hub sends.',
        response: {
          // `$schema`, `$id` and `$defs` travel as additional properties: as property names they
          // would read as keywords to the tools that walk this route's own schema.
          200: CatalogueSchema,
          429: ProblemSchema,
        },
      },
      config: { auth: false },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return document
    },
  )
}

export default eventCatalogueRoutes
