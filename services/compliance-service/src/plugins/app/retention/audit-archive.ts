// Where automatically sealed audit segments are kept before their entries leave the database: one
// file per segment under AUDIT_ARCHIVE_DIR/<tenant>/, written whole (temporary file, fsync,
// rename, fsync of the directory) and read back against the sealed hash before anything is
// removed. A directory rather than the database: an archive exists to outlive the database and to
// be checked without it (`npm run audit:verify -- <file>`); a mounted volume can be backed up,
// replicated or synced to object storage with write-once retention by the platform.
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')

export class ArchiveWriteError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ArchiveWriteError'
  }
}

export function createAuditArchive(dir: string) {
  const fileOf = (tenantId: string, segmentNo: number) => join(dir, tenantId, `audit-segment-${String(segmentNo).padStart(6, '0')}.jsonl`)

  async function fsyncPath(path: string, flags: string): Promise<void> {
    const handle = await open(path, flags)
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  return {
    dir,
    fileOf,
    /**
     * Writes the archive durably and returns its path once the bytes on disk hash to `archiveSha256`.
     * Writing the same segment again replaces the file with the same bytes.
     */
    async write(tenantId: string, segmentNo: number, text: string, archiveSha256: string): Promise<string> {
      if (sha256(text) !== archiveSha256) throw new ArchiveWriteError(`segment ${segmentNo}: the archive does not hash to its sealed SHA-256`)
      const folder = join(dir, tenantId)
      await mkdir(folder, { recursive: true })
      const file = fileOf(tenantId, segmentNo)
      const temporary = `${file}.${process.pid}.tmp`
      const handle = await open(temporary, 'w', 0o640)
      try {
        await handle.writeFile(text, 'utf8')
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(temporary, file)
      await fsyncPath(folder, 'r')
      if (sha256(await readFile(file)) !== archiveSha256) throw new ArchiveWriteError(`segment ${segmentNo}: the archive read back from ${file} differs from what was sealed`)
      return file
    },
  }
}

export type AuditArchive = ReturnType<typeof createAuditArchive>
