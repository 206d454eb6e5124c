/**
 * `npm run check:orphans`: lists the processes the suite (or a bench) left alive and exits 1
 * when there is one. Ours are the processes whose working directory is this checkout (the
 * test files, server children, fping, snmpd all inherit it), not counting this check, its
 * own children and the processes that started it (npm, the shell). Processes elsewhere whose
 * command line names one of the suite's temp folders, and network namespaces named like the
 * test hosts', are listed too, without failing: another checkout's suite makes the same names.
 */
import { readlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, which } from './netns.ts'
import { processes, type ProcessEntry } from './proc.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
const TEMP_FOLDER = new RegExp(`${tmpdir()}/(estatus|snmpd-test|fake-ontap|fping-test|snmp-wrap|disk-bench)-`)
const TEST_HOST_NAMESPACE = /^es[ph][0-9a-f]{6}\b/

const cwdOf = (pid: number): string | null => {
  try { return readlinkSync(`/proc/${pid}/cwd`) } catch { return null }
}

const all = processes()
const byPid = new Map(all.map(entry => [entry.pid, entry]))
const ancestors = new Set<number>()
for (let pid: number | undefined = process.pid; pid !== undefined && !ancestors.has(pid); pid = byPid.get(pid)?.ppid) ancestors.add(pid)

const show = (entry: ProcessEntry) => `  ${entry.pid} (parent ${entry.ppid}, group ${entry.pgrp}) ${entry.argv.join(' ').slice(0, 200)}`
const others = all.filter(entry => !ancestors.has(entry.pid) && entry.ppid !== process.pid)
const ours = others.filter(entry => { const cwd = cwdOf(entry.pid); return cwd === ROOT || cwd?.startsWith(ROOT + sep) === true })
const namingTemp = others.filter(entry => !ours.includes(entry) && TEMP_FOLDER.test(entry.argv.join(' ')))
const ip = which('ip')
const namespaces = ip === null
  ? []
  : (await run(ip, ['netns', 'list']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(line => TEST_HOST_NAMESPACE.test(line))

console.log(ours.length === 0 ? `no process left alive in ${ROOT}` : `${ours.length} process(es) left alive in ${ROOT}:\n${ours.map(show).join('\n')}`)
if (namingTemp.length > 0) console.log(`elsewhere, naming a test temp folder in ${join(tmpdir(), '')} (another checkout's suite?):\n${namingTemp.map(show).join('\n')}`)
if (namespaces.length > 0) console.log(`test-host network namespaces (this or another checkout's): ${namespaces.join(', ')}`)
process.exitCode = ours.length === 0 ? 0 : 1
