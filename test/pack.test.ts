// The package as a host installs it: `npm pack` (which builds dist/ through `prepare`),
// the tarball installed into a plain-JavaScript ESM host that has no tsx, the plugin
// registered there and the API read through it over HTTP; and a TypeScript host
// type-checked against the installed declarations.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { cp, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { call, tempDir, validServer } from './support/app.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FASTIFY_VERSION = (await import('fastify/package.json', { with: { type: 'json' } })).default.version

// Building, installing and type-checking take minutes on a loaded 2-core machine; the work
// is bounded (one pack, one install, one host), not the time.
t.setTimeout(600_000)

// The host must not inherit the test runner's loaders (tsx among them).
const { NODE_OPTIONS, ...hostEnv } = process.env

const aborts = new AbortController()
t.teardown(() => aborts.abort())
const run = (command: string, args: string[], cwd: string) =>
  promisify(execFile)(command, args, { cwd, env: hostEnv, signal: aborts.signal, maxBuffer: 16 * 1024 * 1024 })

interface PackedFile { path: string }

t.test('a JavaScript host installs the packed tarball and serves the API from dist/', async t => {
  const dir = await tempDir(t, 'estatus-pack-')
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], ROOT)
  const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string, files: PackedFile[] }>
  const paths = files.map(file => file.path)
  t.ok(paths.includes('dist/app.js') && paths.includes('dist/app.d.ts') && paths.includes('dist/server.js'), 'the build is in the tarball')
  t.same(paths.filter(path => path.endsWith('.ts') && !path.endsWith('.d.ts')), [], 'no TypeScript source is shipped')

  const host = join(dir, 'host')
  await run('mkdir', [host], dir)
  // A host on npm 11 allows better-sqlite3's build script (README, Embedding).
  await writeFile(join(host, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module', allowScripts: { 'better-sqlite3': true } }))
  // From the local npm cache where it has the packages (always after `npm ci`).
  await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, filename), `fastify@${FASTIFY_VERSION}`], host)
  // Instead of compiling better-sqlite3 again (a minute of g++ per run), the host gets the
  // addon this checkout built: the same pinned version for the same Node.
  await cp(join(ROOT, 'node_modules', 'better-sqlite3', 'build'), join(host, 'node_modules', 'better-sqlite3', 'build'), { recursive: true })
  t.notOk(existsSync(join(host, 'node_modules', 'tsx')), 'the host has no tsx')

  await writeFile(join(host, 'host.js'), `
import Fastify from 'fastify'
import estatus from 'fastify-estatus'
const app = Fastify()
await app.register(estatus, { dataFile: 'estatus.json', monitor: false, prefix: '/status' })
await app.listen({ port: 0, host: '127.0.0.1' })
process.once('SIGTERM', () => app.close().then(() => process.exit(0)))
console.log(JSON.stringify({ port: app.server.address().port, entry: import.meta.resolve('fastify-estatus'), execArgv: process.execArgv }))
`)
  const child = spawn(process.execPath, ['host.js'], { cwd: host, env: hostEnv, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const [line] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    once(child, 'exit').then(([code]) => { throw new Error(`the host exited with ${code}`) })
  ]) as [string]
  const started = JSON.parse(line)
  t.equal(started.entry, `file://${join(host, 'node_modules', 'fastify-estatus', 'dist', 'app.js')}`, 'the host loads dist/app.js')
  t.same(started.execArgv, [], 'plain node, no loader')

  const url = `http://127.0.0.1:${started.port}`
  t.same((await call(url, 'GET', '/status/api/config/servers')).json, { success: true, data: [] })
  const created = await call(url, 'POST', '/status/api/config/servers', validServer())
  t.equal(created.status, 201)
  const listed = await call(url, 'GET', '/status/api/config/servers')
  t.same(listed.json.data.map((server: { id: string }) => server.id), [created.json.data.id], 'read back through the installed plugin')
  child.kill('SIGTERM')
  t.same(await once(child, 'exit'), [0, null], 'the host closes the plugin and exits')

  // A TypeScript host: the declarations resolve from the package and keep the parts hidden.
  await writeFile(join(host, 'host.ts'), `
import Fastify from 'fastify'
import estatus, { type ServerStatus } from 'fastify-estatus'
const app = Fastify()
await app.register(estatus, { monitor: false, threshold: 3 })
const statuses: ServerStatus[] = app.estatus.monitor.statuses()
app.estatus.events.subscribe(event => { if (event.type === 'statusChange') console.log(event.update.isOnline, statuses.length) })
// @ts-expect-error the store lives in the plugin's scope, not on the host
app.configStore.servers()
// @ts-expect-error a host cannot publish
app.estatus.events.publish({ type: 'serverRemoved', serverId: 'x' })
// @ts-expect-error options are checked
await app.register(estatus, { pingIntervalMs: '1000' })
`)
  await writeFile(join(host, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2023', strict: true, noEmit: true, typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] },
    files: ['host.ts']
  }))
  const checked = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], host).then(() => '', (err: { stdout?: string }) => err.stdout ?? String(err))
  t.equal(checked, '', 'the TypeScript host type-checks')
})
