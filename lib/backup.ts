import { SECRET_MASK, type ServerConfig, type StoreDocument } from '../schemas/config.ts'
import { ValidationError, type FieldErrors } from './errors.ts'
import { keepStoredSecrets } from './normalize.ts'

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The document with every secret replaced by the mask, as an export without `secrets=include`. */
export function maskSecrets (document: StoreDocument): StoreDocument {
  return {
    ...document,
    servers: document.servers.map(server => ({
      ...server,
      ...(server.snmp?.community ? { snmp: { ...server.snmp, community: SECRET_MASK } } : {}),
      ...(server.netapp?.password ? { netapp: { ...server.netapp, password: SECRET_MASK } } : {})
    }))
  }
}

/**
 * What an import replaces the configuration with: the document itself, or the `data` of an
 * export answer; masked secrets keep the stored value of the same server (so an export
 * without secrets restores onto the install it came from). A mask with nothing stored is
 * refused: it would become the password.
 */
export function importedDocument (input: unknown, stored: (id: string) => ServerConfig | undefined): unknown {
  const document = isObject(input) && input.success === true && 'data' in input ? input.data : input
  if (!isObject(document) || !Array.isArray(document.servers)) return document
  const fields: FieldErrors = {}
  const servers = document.servers.map((server: unknown, i) => {
    if (!isObject(server) || typeof server.id !== 'string') return server
    const { snmp, netapp } = server as Partial<ServerConfig>
    const before = stored(server.id)
    const unknown = 'is masked and this server has no stored value: export with secrets included'
    if (snmp?.community === SECRET_MASK && !before?.snmp?.community) fields[`servers.${i}.snmp.community`] = unknown
    if (netapp?.password === SECRET_MASK && !before?.netapp?.password) fields[`servers.${i}.netapp.password`] = unknown
    return keepStoredSecrets(server as ServerConfig, before)
  })
  if (Object.keys(fields).length > 0) throw new ValidationError(fields)
  return { ...document, servers }
}
