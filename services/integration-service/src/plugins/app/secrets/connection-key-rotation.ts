// Connection secrets under key rotation (see ./sealed-secrets-rotation.ts).
import type { KeyRing } from '@hub/crypto'
import type { Database } from '@hub/service-kit'
import { assertSealedKeyVersions, rotateSealedSecrets, type RotationProgress } from './sealed-secrets-rotation.ts'
import { CONNECTION_SECRETS } from '../connections/connection-repository.ts'

export type { RotationProgress }

export const assertKeyVersionsAvailable = (db: Pick<Database, 'withSystemScope'>, ring: KeyRing): Promise<void> => assertSealedKeyVersions(db, ring, CONNECTION_SECRETS)

export const rotateConnectionSecrets = (db: Pick<Database, 'withSystemScope'>, ring: KeyRing, onProgress?: (progress: RotationProgress) => void): Promise<number> => rotateSealedSecrets(db, ring, CONNECTION_SECRETS, onProgress)
