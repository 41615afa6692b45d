// Secret settings under key rotation (see ./sealed-secrets-rotation.ts): every version row is
// covered, old ones too, since a rollback decrypts them.
import type { KeyRing } from '@hub/crypto'
import type { Database } from '@hub/service-kit'
import { assertSealedKeyVersions, rotateSealedSecrets, type RotationProgress } from './sealed-secrets-rotation.ts'
import { SETTINGS_SECRETS } from '../settings/settings-repository.ts'

export const assertSettingsKeyVersionsAvailable = (db: Pick<Database, 'withSystemScope'>, ring: KeyRing): Promise<void> => assertSealedKeyVersions(db, ring, SETTINGS_SECRETS)

export const rotateSettingsSecrets = (db: Pick<Database, 'withSystemScope'>, ring: KeyRing, onProgress?: (progress: RotationProgress) => void): Promise<number> => rotateSealedSecrets(db, ring, SETTINGS_SECRETS, onProgress)
