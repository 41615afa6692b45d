// `npm run build`: the production JavaScript. Every workspace package's src/ (and a service's
// migrations/) is transpiled file by file into dist/, keeping the repository's layout, so
// `dist/services/<name>/src/server.js` runs with plain `node` and paths built from
// import.meta.url (a service's migrations folder) still point at the right place.
//
// Why per-file transpiling with TypeScript and not `tsc` emit or a bundler: `npm test` already
// type-checks the whole workspace, so a second full type-check only costs CI time; TypeScript's own
// `rewriteRelativeImportExtensions` turns `./x.ts` specifiers into `./x.js`; and a bundle would
// break the migrations folder that knex reads at run time. Tests (test/, *.test.ts) stay out.
//
// Each package.json is copied with its `exports` pointing at the .js files, so in dist/ the
// workspace is an ordinary JavaScript workspace: the Dockerfile runs `pnpm install --prod` in it.
// Without --no-link (the image build passes it), each dist package also gets a node_modules of
// links to the installed dependencies, with @hub/* pointing at dist/, so the tests can start it.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The options of tsconfig.base.json that matter for emit, plus the rewrite of `.ts` specifiers. */
const COMPILER_OPTIONS = {
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  rewriteRelativeImportExtensions: true,
  sourceMap: true,
}

function tsFiles(dir) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'test' && entry.name !== '__tests__') out.push(...tsFiles(path))
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(path)
    }
  }
  return out
}

/** Relative `.ts` specifiers TypeScript did not rewrite (e.g. in a template string) would fail at run time. */
const LEFTOVER_TS_SPECIFIER = /^(?:import|export)\b[^\n]*?from\s+['"]\.{1,2}\/[^'"]+\.ts['"]|\bimport\(\s*['"]\.{1,2}\/[^'"]+\.ts['"]/m

function transpile(file, outDir) {
  const source = readFileSync(file, 'utf8')
  const rel = relative(ROOT, file)
  const result = ts.transpileModule(source, { compilerOptions: COMPILER_OPTIONS, fileName: rel, reportDiagnostics: true })
  const problems = (result.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
  if (problems.length > 0) throw new Error(`${rel}: ${problems.join('; ')}`)
  if (LEFTOVER_TS_SPECIFIER.test(result.outputText)) throw new Error(`${rel}: a relative import still names a .ts file after the build`)
  const target = join(outDir, rel.replace(/\.ts$/, '.js'))
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, result.outputText.replace(/\/\/# sourceMappingURL=.*$/m, `//# sourceMappingURL=${target.split('/').pop()}.map`))
  writeFileSync(`${target}.map`, result.sourceMapText ?? '')
}

/** `./src/index.ts` → `./src/index.js`, recursively through conditional exports. */
function jsExports(value) {
  if (typeof value === 'string') return value.replace(/\.ts$/, '.js')
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, jsExports(inner)]))
  return value
}

export function workspacePackages() {
  return ['packages', 'services'].flatMap((group) =>
    readdirSync(join(ROOT, group), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(ROOT, group, entry.name, 'package.json')))
      .map((entry) => join(group, entry.name)),
  )
}

/** Links dist/<pkg>/node_modules/* to what pnpm installed for the source package; @hub/* to dist. */
function linkDependencies(outDir, pkgDir, hubDirs) {
  const source = join(ROOT, pkgDir, 'node_modules')
  const target = join(outDir, pkgDir, 'node_modules')
  rmSync(target, { recursive: true, force: true })
  if (!existsSync(source)) return
  const link = (name) => {
    const dest = join(target, name)
    mkdirSync(dirname(dest), { recursive: true })
    const hub = hubDirs.get(name)
    symlinkSync(hub ? relative(dirname(dest), join(outDir, hub)) : realpathSync(join(source, name)), dest)
  }
  for (const entry of readdirSync(source)) {
    if (entry.startsWith('.')) continue
    if (entry.startsWith('@') && lstatSync(join(source, entry)).isDirectory()) {
      for (const inner of readdirSync(join(source, entry))) link(`${entry}/${inner}`)
    } else {
      link(entry)
    }
  }
}

export function build({ outDir = join(ROOT, 'dist'), link = true } = {}) {
  rmSync(outDir, { recursive: true, force: true })
  const hubDirs = new Map()
  for (const pkgDir of workspacePackages()) {
    const manifest = JSON.parse(readFileSync(join(ROOT, pkgDir, 'package.json'), 'utf8'))
    hubDirs.set(manifest.name, pkgDir)
    for (const sub of ['src', 'migrations']) {
      if (existsSync(join(ROOT, pkgDir, sub))) for (const file of tsFiles(join(ROOT, pkgDir, sub))) transpile(file, outDir)
    }
    // `start` scripts run the compiled server with node, not tsx.
    const scripts = Object.fromEntries(Object.entries(manifest.scripts ?? {}).map(([name, command]) => [name, command.replace(/^tsx (src\/\S+)\.ts/, 'node $1.js')]))
    writeFileSync(join(outDir, pkgDir, 'package.json'), `${JSON.stringify({ ...manifest, exports: jsExports(manifest.exports), scripts }, null, 2)}\n`)
  }
  transpile(join(ROOT, 'scripts', 'migrate.ts'), outDir)
  for (const file of ['package.json', 'pnpm-workspace.yaml', 'pnpm-lock.yaml']) cpSync(join(ROOT, file), join(outDir, file))
  if (link) for (const pkgDir of workspacePackages()) linkDependencies(outDir, pkgDir, hubDirs)
  return outDir
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outArg = process.argv.find((arg) => arg.startsWith('--out='))
  const started = Date.now()
  const outDir = build({ outDir: outArg ? resolve(outArg.slice('--out='.length)) : undefined, link: !process.argv.includes('--no-link') })
  console.log(`built ${relative(process.cwd(), outDir) || '.'} in ${Date.now() - started} ms`)
}
