// Import of the old estatus-web backend's files (SPEC §7, §3.3, §3.5): the CLI
// (`npm run import`) and the plugin's `importFrom` option.
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startApp, tempDir, validServer, type Test } from './support/app.ts'
import { runScript } from './support/scripts.ts'

const MASK = '********'

/** A server already in the canonical shape: the import keeps it as it is. */
const NEW_STYLE_SERVER = {
  id: 'server-007',
  name: 'new style',
  ip: '10.0.0.7',
  dnsAddress: '127.0.0.7',
  consecutiveFailures: 2,
  netapp: { enabled: true, apiType: 'rest', username: 'u', password: 'p7', luns: [{ name: 'l7', path: '/vol/l7' }], verifyTls: true }
}

/** The old backend's servers.json: a top-level array with every legacy variant. */
const LEGACY_SERVERS = [
  // Legacy string id, `dns` instead of `dnsAddress`, monitor state stored alongside.
  { id: '1', name: 'web-1', ip: '10.0.0.1', dns: '127.0.0.2', isOnline: true, lastChecked: '2024-05-01T10:00:00.000Z' },
  // `snmpConfig` with storageIndexes/diskNames; `netapp` without apiType and verifyTls.
  {
    id: '2',
    name: 'files',
    ip: '10.0.0.2',
    dnsAddress: '127.0.0.3',
    snmpConfig: { enabled: true, community: 'old-community', storageIndexes: [31, 36], diskNames: ['root', ''] },
    netapp: { enabled: true, username: 'admin', password: 'old-pw', luns: [{ name: 'lun1', path: '/vol/v1/lun1' }] }
  },
  // Numeric id; `netappConfig` (with apiType, without verifyTls).
  { id: 3, name: 'numeric', ip: '10.0.0.3', dns: '127.0.0.4', netappConfig: { enabled: true, apiType: 'zapi', username: 'root', password: 'zapi-pw', luns: [{ name: 'l2', path: '/vol/v2/l2' }] } },
  // Rejected: invalid IPv4.
  { id: '4', name: 'bad ip', ip: '256.1.1.1', dns: '127.0.0.5' },
  // Rejected: duplicate id.
  { id: '1', name: 'dupe', ip: '10.0.0.9', dns: '127.0.0.9' },
  // Already canonical: kept as is, not reported; its generated-style id moves nextServerId.
  NEW_STYLE_SERVER
]

/** The old backend's dashboard-layout.json. */
const LEGACY_LAYOUT = {
  groups: [
    { id: 'group-3', name: 'Web', order: 2, serverIds: ['1', 'server-007'], row: 1, position: 'left' },
    // order null, a numeric reference to the numeric-id server, an unknown server id.
    { id: 'g-b', name: 'Storage', order: null, serverIds: ['2', 3, '99'], row: 2, position: 'right' },
    // Rejected: the same name as "Web" but for case.
    { id: 'g-c', name: 'web', order: 5, serverIds: [] },
    // Canonical rowNumber/rowOrder win over legacy row/position; unknown field dropped.
    { id: 'g-d', name: 'Rows', order: 4, serverIds: [], rowNumber: 3, rowOrder: 4, row: 1, position: 'left', collapsed: true }
  ]
}

const EXPECTED_DOCUMENT = {
  version: 2,
  nextServerId: 8,
  nextGroupId: 4,
  nextChannelId: 1,
  nextRuleId: 1,
  nextMaintenanceId: 1,
  channels: [],
  alertRules: [],
  maintenance: [],
  servers: [
    { id: '1', name: 'web-1', ip: '10.0.0.1', dnsAddress: '127.0.0.2' },
    {
      id: '2',
      name: 'files',
      ip: '10.0.0.2',
      dnsAddress: '127.0.0.3',
      snmp: { enabled: true, community: 'old-community', disks: [{ index: 31, name: 'root' }, { index: 36 }] },
      netapp: { enabled: true, apiType: 'rest', username: 'admin', password: 'old-pw', luns: [{ name: 'lun1', path: '/vol/v1/lun1' }], verifyTls: false }
    },
    {
      id: '3',
      name: 'numeric',
      ip: '10.0.0.3',
      dnsAddress: '127.0.0.4',
      netapp: { enabled: true, apiType: 'zapi', username: 'root', password: 'zapi-pw', luns: [{ name: 'l2', path: '/vol/v2/l2' }], verifyTls: false }
    },
    NEW_STYLE_SERVER
  ],
  groups: [
    { id: 'group-3', name: 'Web', order: 2, serverIds: ['1', 'server-007'], rowNumber: 1, rowOrder: 1 },
    { id: 'g-b', name: 'Storage', order: 3, serverIds: ['2', '3'], rowNumber: 2, rowOrder: 2 },
    { id: 'g-d', name: 'Rows', order: 4, serverIds: [], rowNumber: 3, rowOrder: 4 }
  ]
}

async function legacyFiles (t: Test) {
  const dir = await tempDir(t, 'estatus-legacy-')
  const servers = join(dir, 'servers.json')
  const layout = join(dir, 'dashboard-layout.json')
  await writeFile(servers, JSON.stringify(LEGACY_SERVERS, null, 2))
  await writeFile(layout, JSON.stringify(LEGACY_LAYOUT, null, 2))
  return { dir, servers, layout }
}

/** `npm run import -- <args>` as a child process. */
const runImport = (args: string[]) => runScript('import', args)

/** The importer's own report lines (npm adds its banner around them). */
const reportLines = (stdout: string) => stdout.split('\n').filter(line => /^(fixed|rejected|imported) /.test(line))

t.test('npm run import: reports what it fixed and rejected, writes the canonical document', async t => {
  const legacy = await legacyFiles(t)
  const storeDir = join(await tempDir(t), 'not-yet-there')
  const dataFile = join(storeDir, 'estatus.json')
  const run = await runImport(['--servers', legacy.servers, '--layout', legacy.layout, '--data', dataFile])
  t.equal(run.code, 0, `exit 0 (${run.stderr.trim()})`)

  const lines = reportLines(run.stdout)
  const line = (prefix: string) => lines.filter(l => l.startsWith(prefix))
  const one = (prefix: string) => {
    const found = line(prefix)
    t.equal(found.length, 1, `one line for ${prefix}`)
    return found[0] ?? ''
  }
  t.match(one('fixed    server #1 (id "1"):'), /dropped unknown fields isOnline, lastChecked.*dns renamed to dnsAddress/)
  const files = one('fixed    server #2 (id "2"):')
  t.match(files, /snmpConfig converted to snmp/)
  t.match(files, /netapp\.apiType set to rest/)
  t.match(files, /netapp\.verifyTls set to false/)
  const numeric = one('fixed    server #3 (id 3):')
  t.match(numeric, /numeric id kept as a string/)
  t.match(numeric, /dns renamed to dnsAddress/)
  t.match(numeric, /netappConfig renamed to netapp/)
  t.match(numeric, /netapp\.verifyTls set to false/)
  t.notMatch(numeric, /apiType/, 'its apiType was given')
  t.match(one('rejected server #4 (id "4"):'), /ip: Invalid IPv4 address/)
  t.match(one('rejected server #5 (id "1"):'), /duplicate id '1'/)
  t.same(line('fixed    server #6'), [], 'a canonical record is not reported')
  t.same(line('rejected server #6'), [])
  t.match(one('fixed    group #1 ("Web"):'), /row\/position migrated to rowNumber\/rowOrder/)
  const storage = one('fixed    group #2 ("Storage"):')
  t.match(storage, /row\/position migrated/)
  t.match(storage, /missing order set after the previous group/)
  t.match(storage, /numeric server ids in serverIds kept as strings/)
  t.match(storage, /removed unknown server ids 99/)
  t.match(one('rejected group #3 ("web"):'), /duplicate name 'web'/)
  t.match(one('fixed    group #4 ("Rows"):'), /dropped unknown fields collapsed/)
  t.equal(one('imported '), `imported 4 servers and 3 groups into ${dataFile} (6 fixed, 3 rejected)`)
  t.equal(line('fixed').length, 6)
  t.equal(line('rejected').length, 3)

  const text = await readFile(dataFile, 'utf8')
  const document = JSON.parse(text)
  t.same(document, EXPECTED_DOCUMENT, 'canonical shapes, ids kept, verifyTls false where it was missing, rows migrated, counters')
  t.notMatch(text, /"(dns|snmpConfig|netappConfig|storageIndexes|diskNames|isOnline|lastChecked|row|position|collapsed)"/, 'no legacy field is stored')
  t.match(text, /^\{\n {2}"version": 2,/, 'written as the store writes it')

  // The server serves the imported store.
  const api = await startApp(t, {}, storeDir)
  const servers = (await api.call('GET', '/api/config/servers')).json.data
  t.same(servers.map((server: { id: string }) => server.id), ['1', '2', '3', 'server-007'])
  t.match(servers[1], {
    dns: '127.0.0.3',
    snmp: { community: MASK, disks: [{ index: 31, name: 'root' }, { index: 36 }] },
    snmpConfig: { enabled: true, community: MASK, storageIndexes: [31, 36], diskNames: ['root', ''] },
    netapp: { password: MASK, apiType: 'rest', verifyTls: false }
  })
  t.notMatch(JSON.stringify(servers), /old-community|old-pw|zapi-pw/, 'imported secrets are not sent')
  t.same((await api.call('GET', '/api/config/groups')).json.data, EXPECTED_DOCUMENT.groups)
  t.equal((await api.call('POST', '/api/config/servers', validServer())).json.data.id, 'server-008', 'ids continue after the imported server-007')
  t.equal((await api.call('POST', '/api/config/groups', { name: 'New', serverIds: ['3'] })).json.data.id, 'group-4')
  const edited = await api.call('PUT', '/api/config/servers/3', { ...servers[2], name: 'numeric-2' })
  t.equal(edited.status, 200, 'an imported server round-trips through the browser form')
  t.equal(JSON.parse(await api.fileText()).servers[2].netapp.password, 'zapi-pw', 'its secret is kept')
})

t.test('npm run import refuses to replace a configuration without --force', async t => {
  const legacy = await legacyFiles(t)
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  t.equal((await runImport(['--servers', legacy.servers, '--layout', legacy.layout, '--data', dataFile])).code, 0)
  const before = await readFile(dataFile)

  // Only one of the two files now: a forced import would leave no groups.
  const refused = await runImport(['--servers', legacy.servers, '--data', dataFile])
  t.equal(refused.code, 1)
  t.match(refused.stderr, `${dataFile} already holds a configuration; pass --force to replace it`)
  t.same(reportLines(refused.stdout), [], 'nothing imported')
  t.same(await readFile(dataFile), before, 'the store is untouched')

  const forced = await runImport(['--servers', legacy.servers, '--data', dataFile, '--force'])
  t.equal(forced.code, 0, forced.stderr)
  t.match(reportLines(forced.stdout).at(-1), /^imported 4 servers and 0 groups into /)
  const document = JSON.parse(await readFile(dataFile, 'utf8'))
  t.same(document.servers, EXPECTED_DOCUMENT.servers)
  t.same(document.groups, [])

  // An empty store is not "a configuration": no --force needed.
  const empty = join(dir, 'empty.json')
  await writeFile(empty, JSON.stringify({ version: 1, nextServerId: 1, nextGroupId: 1, servers: [], groups: [] }))
  t.equal((await runImport(['--layout', legacy.layout, '--servers', legacy.servers, '--data', empty])).code, 0)
  t.same(JSON.parse(await readFile(empty, 'utf8')), EXPECTED_DOCUMENT)

  const usage = await runImport(['--data', dataFile])
  t.equal(usage.code, 2, 'no input file: usage')
  t.match(usage.stderr, /usage: npm run import -- --servers/)
})

t.test('plugin option importFrom: imports into an empty store', async t => {
  const legacy = await legacyFiles(t)
  const api = await startApp(t, { importFrom: { servers: legacy.servers, layout: legacy.layout } })
  const servers = (await api.call('GET', '/api/config/servers')).json.data
  t.same(servers.map((server: { id: string }) => server.id), ['1', '2', '3', 'server-007'])
  t.same((await api.call('GET', '/api/config/groups')).json.data, EXPECTED_DOCUMENT.groups)
  t.same(JSON.parse(await api.fileText()), EXPECTED_DOCUMENT, 'persisted')
})

t.test('plugin option importFrom: an existing empty data file counts as empty', async t => {
  const legacy = await legacyFiles(t)
  const dir = await tempDir(t)
  await writeFile(join(dir, 'estatus.json'), JSON.stringify({ version: 1, nextServerId: 1, nextGroupId: 1, servers: [], groups: [] }))
  const api = await startApp(t, { importFrom: { servers: legacy.servers, layout: legacy.layout } }, dir)
  t.equal((await api.call('GET', '/api/config/servers')).json.data.length, 4)
})

t.test('plugin option importFrom: never imports over a configuration', async t => {
  const legacy = await legacyFiles(t)
  const first = await startApp(t)
  const created = (await first.call('POST', '/api/config/servers', validServer({ name: 'mine' }))).json.data
  await first.app.close()
  const before = await readFile(first.dataFile)

  const second = await startApp(t, { importFrom: { servers: legacy.servers, layout: legacy.layout } }, first.dir)
  t.same((await second.call('GET', '/api/config/servers')).json.data, [created], 'only what was there')
  t.same((await second.call('GET', '/api/config/groups')).json.data, [])
  t.same(await readFile(second.dataFile), before, 'the data file is unchanged')
})
