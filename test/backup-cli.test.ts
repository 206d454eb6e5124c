import t from 'tap'
import Database from 'better-sqlite3'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { populated } from './support/backup-support.ts'
import { runScript } from './support/scripts.ts'

// Each `npm run` starts node and tsx afresh: seconds apiece on a busy machine.
t.setTimeout(360000)

t.test('npm run export and npm run import -- --file: the same round trip offline', async t => {
  const { api } = await populated(t)
  await api.app.close()
  const original = await readFile(api.dataFile, 'utf8')
  const env = { ESTATUS_DATA_FILE: api.dataFile }

  const full = await runScript('export', ['--secrets'], env)
  t.equal(full.code, 0, full.stderr)
  t.equal(full.stdout, original, 'with --secrets the export is the data file, byte for byte')
  const masked = await runScript('export', [], env)
  t.notOk(/community-of-|password-of-|secret-of-/.test(masked.stdout), 'secrets masked by default')

  const backup = join(api.dir, 'backup.json')
  await writeFile(backup, full.stdout)
  const restoredFile = join(api.dir, 'restored', 'estatus.json')
  const restored = await runScript('import', ['--file', backup, '--data', restoredFile])
  t.equal(restored.code, 0, restored.stderr)
  t.match(restored.stdout, /restored 3 servers, 2 groups, 2 channels, 1 alert rules and 1 maintenance windows/)
  t.equal(await readFile(restoredFile, 'utf8'), original, 'the restored file is byte-identical')

  const again = await runScript('import', ['--file', backup, '--data', restoredFile])
  t.equal(again.code, 1, 'an existing configuration is not replaced without --force')
  const maskedBackup = join(api.dir, 'masked.json')
  await writeFile(maskedBackup, masked.stdout)
  const forced = await runScript('import', ['--file', maskedBackup, '--data', restoredFile, '--force', '--actor', 'ops-oncall'])
  t.equal(forced.code, 0, forced.stderr)
  t.equal(await readFile(restoredFile, 'utf8'), original, 'masked secrets keep what the target file holds')

  // Audited where the server keeps its audit (the history database beside the data file).
  const db = new Database(join(api.dir, 'restored', 'history.sqlite'), { readonly: true })
  t.teardown(() => db.close())
  const summaries = db.prepare("SELECT actor, address, action, kind, created, updated, deleted FROM audit_log WHERE kind = 'configuration' ORDER BY seq").all()
  t.same(summaries, [
    { actor: 'cli', address: null, action: 'import', kind: 'configuration', created: 9, updated: 0, deleted: 0 },
    { actor: 'ops-oncall', address: null, action: 'import', kind: 'configuration', created: 0, updated: 0, deleted: 0 }
  ], 'each import by its actor, `cli` by default: the first created every item, the second changed none')
  t.equal((db.prepare("SELECT count(*) AS n FROM audit_log WHERE via = 'import'").get() as { n: number }).n, 9, 'one entry per item created')
})
