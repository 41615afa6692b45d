// `npm run audit:verify -- <export.jsonl> [--keys <signing-keys.json>] [--json]`: verifies an
// audit-log export or archived segment with no database and no network. --keys pins the public
// keys (the body of GET /api/v1/compliance/audit-log/signing-keys, saved when you trusted it);
// without it the keys inside the file are used and a warning says so.
// Exit 0: verified. Exit 1: a problem, the first one named by line. Exit 2: could not run.
import { readFileSync } from 'node:fs'
import { verifyAuditExport, type PublicKeyLine } from '../plugins/app/audit-export-verifier.ts'

function usage(message: string): never {
  console.error(`${message}\nusage: npm run audit:verify -- <export.jsonl> [--keys <signing-keys.json>] [--json]`)
  process.exit(2)
}

const args = process.argv.slice(2)
let file: string | undefined
let keysFile: string | undefined
let asJson = false
for (let i = 0; i < args.length; i++) {
  const arg = args[i]
  if (arg === '--keys') keysFile = args[++i] ?? usage('--keys needs a file')
  else if (arg === '--json') asJson = true
  else if (arg?.startsWith('--')) usage(`unknown option ${arg}`)
  else if (file === undefined) file = arg
  else usage('one export file at a time')
}
if (!file) usage('no export file given')

let text: string
let trustedKeys: PublicKeyLine[] | undefined
try {
  text = readFileSync(file, 'utf8')
  if (keysFile) {
    const parsed = JSON.parse(readFileSync(keysFile, 'utf8')) as { keys?: PublicKeyLine[] } | PublicKeyLine[]
    trustedKeys = Array.isArray(parsed) ? parsed : (parsed.keys ?? [])
  }
} catch (error) {
  usage(`cannot read input: ${(error as Error).message}`)
}

const result = verifyAuditExport(text, trustedKeys ? { trustedKeys } : {})
if (asJson) {
  console.log(JSON.stringify(result, null, 2))
} else {
  const what = result.kind === 'segment' ? 'segment' : 'export'
  if (result.ok) {
    console.log(
      `OK: ${what} of tenant ${String(result.tenantId)}: ${result.entries} entries (seq ${String(result.firstSeq)}..${String(result.lastSeq)}), ${result.digestsVerified} signed digests verified, signed through seq ${String(result.signedThroughSeq)}`,
    )
  } else {
    const first = result.firstProblem
    console.log(`FAILED: ${file} line ${String(first?.line)}: ${String(first?.reason)}: ${String(first?.message)}`)
    for (const problem of result.problems.slice(1, 20)) console.log(`  also line ${problem.line}: ${problem.reason}: ${problem.message}`)
    if (result.problems.length > 20) console.log(`  … and ${result.problems.length - 20} more`)
  }
  for (const warning of result.warnings) console.log(`warning: ${warning}`)
}
process.exit(result.ok ? 0 : 1)
