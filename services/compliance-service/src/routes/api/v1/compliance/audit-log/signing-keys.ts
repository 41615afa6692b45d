// /api/v1/compliance/audit-log/signing-keys — the public keys that verify audit digests, rotated-out
// ones included. Public: an outside auditor fetches them without an account and pins them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ProblemSchema } from '@hub/contracts'
import { SigningKeyListSchema } from '../../../../../schemas/compliance.ts'

const tags = ['audit log']

const signingKeyRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/audit-log/signing-keys',
    {
      schema: { tags, security: [], summary: 'Public keys that verify audit digests, rotated-out ones included (public)', response: { 200: SigningKeyListSchema, 429: ProblemSchema } },
      config: { auth: false },
    },
    async () => {
      await fastify.auditDigestJob.storeKeys()
      return { keys: await fastify.db.withSystemScope((trx) => fastify.auditDigestStore.publicKeys(trx)) }
    },
  )
}

export default signingKeyRoutes
