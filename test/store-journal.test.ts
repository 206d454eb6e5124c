// The store's persistence (README, "Inside the store"): each write is a journal record, the
// data file follows in the background, and a start replays what the file lacks — including
// the states a crash can leave between a rewrite's rename and the journal's reset.
import t from 'tap'
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import { createConfigStore, type ConfigStore } from '../lib/config-store.ts'
import { deltaOf, withDelta } from '../lib/store/delta.ts'
import { documentChunks, documentText } from '../lib/store/document-text.ts'
import { journalPath } from '../lib/store/journal.ts'
import { sha256 } from '../lib/store/persistence.ts'
import { tempDir, validServer, type Test } from './support/app.ts'
import { waitFor } from './support/wait.ts'

const server = (n: number) => ({ id: `server-${String(n).padStart(3, '0')}`, ...validServer({ name: `web-${n}` }) })
const documentWith = (count: number) => ({ version: 1, nextServerId: count + 1, nextGroupId: 1, servers: Array.from({ length: count }, (_, i) => server(i + 1)), groups: [] })
const record = (seq: number, before: object, after: object) => JSON.stringify({ seq, ops: deltaOf(before, after) })
const header = (text: string) => JSON.stringify({ journal: 1, base: sha256(text) })

async function open (t: Test, file: string, watchFile = false): Promise<{ store: ConfigStore, warnings: string[] }> {
  const warnings: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warnings.push(line) } } } })
  const store = await createConfigStore({ file, log: app.log, watchFile, watchDebounceMs: 20 })
  t.teardown(async () => { await store.close(); await app.close() })
  return { store, warnings }
}

const names = (store: ConfigStore) => store.servers().map(item => item.name)
const namesInFile = async (file: string) => (JSON.parse(await readFile(file, 'utf8')) as { servers: Array<{ name: string }> }).servers.map(item => item.name)

t.test('a write is acknowledged once in the journal; flush and close bring the data file up to it', async t => {
  const file = join(await tempDir(t), 'estatus.json')
  const { store } = await open(t, file)
  await store.createServer(validServer({ name: 'a' }))
  t.match(await readFile(journalPath(file), 'utf8'), /"name":"a"/, 'the write is in the journal')
  await store.flush()
  t.same(await namesInFile(file), ['a'], 'flush: the data file holds it')
  await store.createServer(validServer({ name: 'b' }))
  await store.close()
  t.same(await namesInFile(file), ['a', 'b'], 'close: the data file holds everything')
  t.notOk((await readdir(join(file, '..'))).some(name => name.includes('journal')), 'and no journal is left')
})

t.test('a start replays the journal onto the file it follows, writes the result and starts a new journal', async t => {
  const file = join(await tempDir(t), 'estatus.json')
  const base = documentWith(2)
  const text = documentText(base)
  const added = { ...base, nextServerId: 4, servers: [...base.servers, server(3)] }
  const renamed = { ...added, servers: added.servers.with(0, { ...server(1), name: 'renamed' }) }
  const removed = { ...renamed, servers: renamed.servers.toSpliced(1, 1) }
  await writeFile(file, text)
  // The last line never got its newline: a write that never completed (never acknowledged).
  const torn = record(4, removed, { ...removed, servers: [] }).slice(0, 30)
  await writeFile(journalPath(file), [header(text), record(1, base, added), record(2, added, renamed), record(3, renamed, removed)].join('\n') + '\n' + torn)
  const { store } = await open(t, file)
  t.same(names(store), ['renamed', 'web-3'], 'the three acknowledged writes, not the torn one')
  t.same(await namesInFile(file), ['renamed', 'web-3'], 'written into the data file at start')
  t.same((await readFile(journalPath(file), 'utf8')).split('\n').length, 2, 'the new journal holds its header only')
  t.equal((await store.createServer(validServer())).value.id, 'server-004', 'the counter came from the journal too')
})

t.test('a crash between a rewrite\'s rename and the journal\'s reset: only the records after its checkpoint are replayed', async t => {
  const file = join(await tempDir(t), 'estatus.json')
  const base = documentWith(1)
  const second = { ...base, nextServerId: 3, servers: [...base.servers, server(2)] }
  const third = { ...second, nextServerId: 4, servers: [...second.servers, server(3)] }
  // The rewrite holds seq 1; seq 2 was appended while it was written.
  const rewritten = documentText(second)
  await writeFile(file, rewritten)
  await writeFile(journalPath(file), [header(documentText(base)), record(1, base, second), record(2, second, third), JSON.stringify({ checkpoint: sha256(rewritten), through: 1 })].join('\n') + '\n')
  const { store } = await open(t, file)
  t.same(names(store), ['web-1', 'web-2', 'web-3'], 'seq 2 applied once, seq 1 not again')
})

t.test('a data file replaced while the server was down wins; the journal is set aside, not applied', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'estatus.json')
  const base = documentWith(1)
  const added = { ...base, nextServerId: 3, servers: [...base.servers, server(2)] }
  await writeFile(journalPath(file), [header(documentText(base)), record(1, base, added)].join('\n') + '\n')
  await writeFile(file, JSON.stringify({ ...documentWith(0), servers: [{ ...server(7), name: 'by-hand' }] }))
  const { store, warnings } = await open(t, file)
  t.same(names(store), ['by-hand'])
  t.match(warnings.join(''), /replaced while the server was down/)
  const aside = (await readdir(dir)).filter(name => name.startsWith('estatus.json.journal.unmerged-'))
  t.equal(aside.length, 1, 'the changes are kept aside')
  t.match(await readFile(join(dir, aside[0]!), 'utf8'), /"name":"web-2"/)
})

t.test('a hand edit saved while a rewrite is due is read and applied, never overwritten unseen', async t => {
  const file = join(await tempDir(t), 'estatus.json')
  // Large enough that a background rewrite takes a while, so the edit lands before or during one.
  await writeFile(file, JSON.stringify(documentWith(5000), null, 2))
  const { store } = await open(t, file, true)
  for (let round = 1; round <= 5; round++) {
    await store.createServer(validServer({ name: `api-${round}` }))
    const edited = { ...store.document(), servers: [server(1), { ...server(2), name: `edited-${round}` }] }
    await writeFile(file, JSON.stringify(edited, null, 2))
    await waitFor(() => names(store).includes(`edited-${round}`), 20000, `round ${round}: the edit applied`)
    t.same(names(store), ['web-1', `edited-${round}`], `round ${round}: the configuration is the edit`)
    await store.flush()
    t.same(await namesInFile(file), ['web-1', `edited-${round}`], `round ${round}: the file holds the edit`)
  }
  t.equal(store.health().ok, true)
})

t.test('a hand edit that is rejected stays in the file for its author until the next write', async t => {
  const file = join(await tempDir(t), 'estatus.json')
  const { store } = await open(t, file, true)
  await store.createServer(validServer({ name: 'a' }))
  await writeFile(file, '{ "version": 2, "servers": [ oops')
  await waitFor(() => !store.health().ok, 20000, 'the rejected edit reported')
  await new Promise(resolve => setTimeout(resolve, 1500)) // past the background rewrite's retry
  t.equal(await readFile(file, 'utf8'), '{ "version": 2, "servers": [ oops', 'not rewritten in the background')
  await store.createServer(validServer({ name: 'b' }))
  t.same(await namesInFile(file), ['a', 'b'], 'the next write replaces it')
  t.equal(store.health().ok, true)
})

t.test('a damaged journal stops the start with one line naming it', async t => {
  const file = join(await tempDir(t), 'estatus.json')
  const text = documentText(documentWith(1))
  await writeFile(file, text)
  await writeFile(journalPath(file), header(text) + '\n{"seq": 1, "ops": [oops\n')
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await t.rejects(createConfigStore({ file, log: app.log, watchFile: false }), { code: 'ESTATUS_DATA_FILE', message: /^Cannot replay the journal .*estatus\.json\.journal: line 2 of .* is damaged$/ })
})

t.test('a journal removed while running: the next write rewrites the file and starts a new journal', async t => {
  const file = join(await tempDir(t), 'estatus.json')
  const { store } = await open(t, file)
  await store.createServer(validServer({ name: 'a' }))
  await store.flush()
  await rm(journalPath(file))
  await store.createServer(validServer({ name: 'b' }))
  t.same(await namesInFile(file), ['a', 'b'], 'written as a whole file at once')
  await store.createServer(validServer({ name: 'c' }))
  t.match(await readFile(journalPath(file), 'utf8'), /"name":"c"/, 'and journalled again')
})

t.test('deltas and the file text are generic over the document\'s fields', async t => {
  const before = { version: 2, counter: 1, items: [{ id: 'a' }, { id: 'b' }, { id: 'c' }], rules: [], gone: { x: 1 }, nested: { deep: [1, 2] } }
  const after = { version: 2, counter: 2, items: [before.items[0]!, before.items[2]!, { id: 'd', tags: ['x'] }], rules: [{ id: 'r', when: { not: null } }], nested: before.nested }
  const ops = deltaOf(before, after)
  t.same(ops, [['gone'], ['counter', 2], ['items', 1, 2, [{ id: 'c' }, { id: 'd', tags: ['x'] }]], ['rules', 0, 0, [{ id: 'r', when: { not: null } }]]], 'only what changed, found by reference')
  t.equal(ops[2]![3]![0], before.items[2], 'unchanged items are carried by reference, not copied')
  const parsed = JSON.parse(JSON.stringify(before))
  const replayed = withDelta(parsed, JSON.parse(JSON.stringify(ops)))
  t.same(replayed, after, 'applied to the parsed file it gives the next document')
  t.equal(replayed.nested, parsed.nested, 'what the change did not touch is shared, not copied')
  t.not(replayed.items, parsed.items, 'a changed list is a new one: the document applied to is left as it was')
  t.equal(parsed.items.length, 3)
  t.equal([...documentChunks(after)].join(''), JSON.stringify(after, null, 2) + '\n', 'the text is JSON.stringify(document, null, 2)')
  const many = { list: Array.from({ length: 2500 }, (_, i) => ({ i })), empty: [], scalar: 'x' }
  t.ok([...documentChunks(many)].length > 2, 'long lists come in several chunks')
  t.equal(documentText(many), JSON.stringify(many, null, 2) + '\n')
})
