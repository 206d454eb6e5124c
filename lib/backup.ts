import { SECRET_MASK, type ServerConfig, type StoreDocument } from '../schemas/config.ts'
import { CHANNEL_FIELDS, CHANNEL_SECRETS, type Channel } from '../schemas/alerts.ts'
import { ValidationError, type FieldErrors } from './errors.ts'
import { isObject, keepStoredSecrets } from './normalize.ts'
import { keepChannelSecrets, maskChannelSecrets, maskedWithoutValue } from './alert-config.ts'

/** The document with every secret replaced by the mask, as an export without `secrets=include`. */
export function maskSecrets (document: StoreDocument): StoreDocument {
  return {
    ...document,
    servers: document.servers.map(server => ({
      ...server,
      ...(server.snmp?.community ? { snmp: { ...server.snmp, community: SECRET_MASK } } : {}),
      ...(server.netapp?.password ? { netapp: { ...server.netapp, password: SECRET_MASK } } : {})
    })),
    channels: document.channels.map(maskChannelSecrets)
  }
}

/** The stored items an import's masked secrets are taken from. */
export interface StoredSecrets {
  server (id: string): ServerConfig | undefined
  channel (id: string): Channel | undefined
}

const unknownSecret = (what: string) => `is masked and this ${what} has no stored value: export with secrets included`

/**
 * What an import replaces the configuration with: the document itself, or the `data` of an
 * export answer; masked secrets keep the stored value of the same server or channel (so an
 * export without secrets restores onto the install it came from). A mask with nothing
 * stored is refused: it would become the password.
 */
export function importedDocument (input: unknown, stored: StoredSecrets): unknown {
  const document = isObject(input) && input.success === true && 'data' in input ? input.data : input
  if (!isObject(document)) return document
  const fields: FieldErrors = {}
  const imported = { ...document }
  if (Array.isArray(document.servers)) {
    imported.servers = document.servers.map((server: unknown, i) => {
      if (!isObject(server) || typeof server.id !== 'string') return server
      const { snmp, netapp } = server as Partial<ServerConfig>
      const before = stored.server(server.id)
      if (snmp?.community === SECRET_MASK && !before?.snmp?.community) fields[`servers.${i}.snmp.community`] = unknownSecret('server')
      if (netapp?.password === SECRET_MASK && !before?.netapp?.password) fields[`servers.${i}.netapp.password`] = unknownSecret('server')
      return keepStoredSecrets(server as ServerConfig, before)
    })
  }
  if (Array.isArray(document.channels)) {
    imported.channels = document.channels.map((channel: unknown, i) => {
      // One of an unknown type is left for the document check to name.
      if (!isObject(channel) || typeof channel.id !== 'string' || typeof channel.type !== 'string' || !Object.hasOwn(CHANNEL_FIELDS, channel.type)) return channel
      const before = stored.channel(channel.id)
      const kept = keepChannelSecrets(channel as Channel, before)
      for (const field of CHANNEL_SECRETS) {
        if (channel[field] === SECRET_MASK && (kept as Record<string, unknown>)[field] === undefined) fields[`channels.${i}.${field}`] = unknownSecret('channel')
      }
      for (const field of maskedWithoutValue(kept)) fields[`channels.${i}.${field}`] = unknownSecret('channel')
      return kept
    })
  }
  if (Object.keys(fields).length > 0) throw new ValidationError(fields)
  return imported
}

/** What a document holds, in words, for the export and import scripts. */
export const describeContents = (document: StoreDocument) =>
  `${document.servers.length} servers, ${document.groups.length} groups, ${document.channels.length} channels, ` +
  `${document.alertRules.length} alert rules and ${document.maintenance.length} maintenance windows`
