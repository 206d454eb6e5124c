import { readFile } from 'node:fs/promises'
import type { FastifyBaseLogger } from 'fastify'
import { ServerInput, GroupInput, type StoreDocument, type ServerConfig, type GroupConfig } from '../schemas/config.ts'
import { checkServerRules, createValidators, groupNameKey } from './document.ts'
import type { ConfigStore } from './config-store.ts'

export interface ImportReport {
  /** One line per record that was changed to fit, saying what was fixed. */
  fixed: string[]
  /** One line per record left out, saying why. */
  rejected: string[]
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

// The fields we keep: ours and the old backend's aliases (normalised later). Anything else,
// such as the monitor state it stored alongside the config, is dropped and reported.
const SERVER_FIELDS = new Set([...Object.keys(ServerInput.properties), 'dns', 'snmpConfig', 'netappConfig'])
const GROUP_FIELDS = new Set([...Object.keys(GroupInput.properties), 'row', 'position'])

function dropUnknown (record: Record<string, unknown>, known: Set<string>, notes: string[]) {
  const unknown = Object.keys(record).filter(key => !known.has(key))
  if (unknown.length > 0) notes.push(`dropped unknown fields ${unknown.join(', ')}`)
  return Object.fromEntries(Object.entries(record).filter(([key]) => known.has(key)))
}

/**
 * Converts the old estatus-web backend's `servers.json` (a top-level array) and
 * `dashboard-layout.json` (`{groups: [...]}`) into one store document (SPEC §7).
 * Ids are kept; every record that had to be fixed or was left out is reported.
 */
export function convertLegacy (legacyServers: unknown, legacyLayout: unknown): { document: StoreDocument, report: ImportReport } {
  const { parseServer, parseGroup, checkDocument } = createValidators()
  const report: ImportReport = { fixed: [], rejected: [] }
  const servers: ServerConfig[] = []
  const groups: GroupConfig[] = []

  const serverRecords = legacyServers === undefined ? [] : legacyServers
  if (!Array.isArray(serverRecords)) throw new Error('the servers file must hold a JSON array of servers')
  serverRecords.forEach((record: unknown, i) => {
    const label = `server #${i + 1}${isObject(record) && record.id !== undefined ? ` (id ${JSON.stringify(record.id)})` : ''}`
    try {
      if (!isObject(record)) throw new Error('not an object')
      const notes: string[] = []
      const fields = dropUnknown(record, SERVER_FIELDS, notes)
      if (typeof fields.id === 'number') { fields.id = String(fields.id); notes.push('numeric id kept as a string') }
      if (fields.dnsAddress === undefined && fields.dns !== undefined) notes.push('dns renamed to dnsAddress')
      if (fields.snmp === undefined && fields.snmpConfig !== undefined) notes.push('snmpConfig converted to snmp')
      if (fields.netapp === undefined && fields.netappConfig !== undefined) notes.push('netappConfig renamed to netapp')
      const netapp = fields.netapp ?? fields.netappConfig
      if (isObject(netapp)) {
        if (netapp.apiType === undefined) notes.push('netapp.apiType set to rest')
        // The old backend never verified filer certificates: keep it working as it did.
        if (netapp.verifyTls === undefined) { fields.netapp = { ...netapp, verifyTls: false }; delete fields.netappConfig; notes.push('netapp.verifyTls set to false') }
      }
      const input = parseServer(fields)
      const id = input.id
      if (id === undefined) throw new Error('has no id')
      if (servers.some(server => server.id === id)) throw new Error(`duplicate id '${id}'`)
      const server: ServerConfig = { ...input, id }
      checkServerRules(server)
      servers.push(server)
      if (notes.length > 0) report.fixed.push(`${label}: ${notes.join('; ')}`)
    } catch (err) {
      report.rejected.push(`${label}: ${(err as Error).message}`)
    }
  })

  const groupRecords = legacyLayout === undefined ? [] : (isObject(legacyLayout) ? legacyLayout.groups : undefined)
  if (!Array.isArray(groupRecords)) throw new Error('the layout file must hold {"groups": [...]}')
  const known = new Set(servers.map(server => server.id))
  groupRecords.forEach((record: unknown, i) => {
    const label = `group #${i + 1}${isObject(record) && record.name !== undefined ? ` (${JSON.stringify(record.name)})` : ''}`
    try {
      if (!isObject(record)) throw new Error('not an object')
      const notes: string[] = []
      const fields = dropUnknown(record, GROUP_FIELDS, notes)
      if (fields.id !== undefined && typeof fields.id !== 'string') fields.id = String(fields.id)
      if (fields.row !== undefined || fields.position !== undefined) notes.push('row/position migrated to rowNumber/rowOrder')
      if (fields.order === null || fields.order === undefined) { delete fields.order; notes.push('missing order set after the previous group') }
      if (fields.serverIds === null) { delete fields.serverIds; notes.push('serverIds null set to []') }
      // Servers with numeric ids (kept as strings above) are referenced by number.
      if (Array.isArray(fields.serverIds) && fields.serverIds.some(id => typeof id === 'number')) {
        fields.serverIds = fields.serverIds.map(id => (typeof id === 'number' ? String(id) : id))
        notes.push('numeric server ids in serverIds kept as strings')
      }
      const input = parseGroup(fields)
      const unknownIds = input.serverIds.filter(id => !known.has(id))
      if (unknownIds.length > 0) notes.push(`removed unknown server ids ${unknownIds.join(', ')}`)
      const id = input.id ?? `group-${i + 1}`
      if (input.id === undefined) notes.push(`given id ${id}`)
      if (groups.some(group => group.id === id)) throw new Error(`duplicate id '${id}'`)
      if (groups.some(group => groupNameKey(group.name) === groupNameKey(input.name))) throw new Error(`duplicate name '${input.name}'`)
      groups.push({
        id,
        name: input.name,
        order: input.order ?? Math.min(1000, Math.max(0, ...groups.map(group => group.order)) + 1),
        serverIds: input.serverIds.filter(serverId => known.has(serverId)),
        rowNumber: input.rowNumber ?? 1,
        rowOrder: input.rowOrder ?? 1
      })
      if (notes.length > 0) report.fixed.push(`${label}: ${notes.join('; ')}`)
    } catch (err) {
      report.rejected.push(`${label}: ${(err as Error).message}`)
    }
  })

  const document = checkDocument({ version: 1, nextServerId: 1, nextGroupId: 1, servers, groups })
  return { document, report }
}

async function readJson (file: string | undefined): Promise<unknown> {
  if (file === undefined) return undefined
  const text = await readFile(file, 'utf8')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`)
  }
}

export async function readLegacy (files: { servers?: string, layout?: string }) {
  return convertLegacy(await readJson(files.servers), await readJson(files.layout))
}

/** The plugin's `importFrom` option: imports into a store that is still empty, never over data. */
export async function importAtStart (store: ConfigStore, files: { servers?: string, layout?: string }, log: FastifyBaseLogger) {
  const lists = [store.servers(), store.groups(), store.channels(), store.alertRules(), store.maintenanceWindows()]
  if (lists.some(list => list.length > 0)) {
    log.warn({ files }, 'not importing the old estatus-web files: the store already holds a configuration')
    return
  }
  const { document, report } = await readLegacy(files)
  await store.replace(document)
  log.info({ files, servers: document.servers.length, groups: document.groups.length, fixed: report.fixed, rejected: report.rejected }, 'imported the old estatus-web configuration')
}
