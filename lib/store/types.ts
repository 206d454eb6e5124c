import type { FastifyBaseLogger } from 'fastify'
import type { StoreDocument, ServerConfig, GroupConfig, ReassignMode } from '../../schemas/config.ts'
import type { AlertConfig } from '../../plugins/alerts/types.ts'
import type { CollectionItem, CollectionKey } from './collections.ts'
import type { StoredItem } from './etag.ts'
import type { IdKind } from './ids.ts'
import type { Database } from '../cluster/database.ts'
import type { LogRow, LogTail } from '../cluster/event-log.ts'

export interface ServerUpdate { before: ServerConfig, after: ServerConfig }

/** What one persisted mutation changed; the event layer and the monitor act on it as is. */
export interface ChangeSet {
  serversAdded: ServerConfig[]
  serversUpdated: ServerUpdate[]
  serversRemoved: ServerConfig[]
  /** The full group list (display order) after the change, or null when groups did not change. */
  groups: GroupConfig[] | null
}

/** What a pure mutation returns: the next document, the answer, and what changed. */
export interface Applied<T> { document: StoreDocument, value: T, changes: ChangeSet }

export interface Mutation<T> { value: T, changes: ChangeSet }
export interface Precondition { ifMatch?: string | undefined }
export type ChangeListener = (changes: ChangeSet) => void

/**
 * Who made a change and from where, for the audit (SPEC §11). `actor` is a token's name,
 * `anonymous` (a request while access control is off), `file` (a hand edit of the data
 * file) or `host` (the host application's own `estatus.store` calls: the default).
 */
export interface ChangeOrigin {
  actor: string
  /** The client's address (`request.ip`); null for hand edits and the host. */
  address: string | null
}
export interface ChangeOptions { origin?: ChangeOrigin | undefined }
export type ItemChangeOptions = Precondition & ChangeOptions

/** `import` (a backup or the old files) or `replace` (a hand edit, or the host's `replace`). */
export type ReplaceAction = 'import' | 'replace'
export type AuditAction = 'create' | 'update' | 'delete' | ReplaceAction
/** One item a change created, updated or deleted: its kind, id and name, never its fields (they may hold secrets). */
export interface AuditItem { action: 'create' | 'update' | 'delete', kind: IdKind, id: string, name: string }
/**
 * One committed change as the audit sees it. For a create, update or delete `items` is the
 * one item asked for (what it did to others — a deleted server leaving its groups — is part
 * of it); for an import or replace, every item that differs.
 */
export interface AuditRecord { action: AuditAction, origin: ChangeOrigin, items: AuditItem[] }
export type AuditListener = (record: AuditRecord) => void

export interface StoreHealth {
  ok: boolean
  error?: string
  /** The data file is not writable: the configuration is served, changes are refused (503). */
  readOnly?: boolean
}

/** Cluster mode (SPEC §12): the configuration is kept in PostgreSQL (lib/cluster/config-log.ts), not in the file. */
export interface ClusterStorage {
  database: Database
  /** The node's reader of the event log: it hands over the configuration changes other nodes commit. */
  tail: LogTail
  consume (kind: 'config', handler: (rows: LogRow[]) => Promise<void>): void
  /** The SPEC §5 events of a change, as JSON: committed with it. */
  eventsOf (changes: ChangeSet): string[]
}

export interface ConfigStoreOptions {
  /** The data file; in cluster mode only a name for messages. */
  file: string
  log: FastifyBaseLogger
  cluster?: ClusterStorage
  /** Pick up hand edits of the data file while running (SPEC §5, last rule). */
  watchFile?: boolean
  /** Quiet period after a file-system event before the file is read. */
  watchDebounceMs?: number
}

/**
 * One list of the alert configuration (SPEC §10): channels, alert rules or maintenance
 * windows, with the validation, ids, ETags and secret handling of servers.
 */
export interface ItemCollection<T> {
  /** How messages name one item ("Channel", "Alert rule", "Maintenance window"). */
  readonly label: string
  /** In creation order; secrets in clear (the senders need them): answer clients with `view`. */
  list (): readonly T[]
  get (id: string): T | undefined
  /** The item as clients see it: secrets masked (SPEC §3.4). */
  view (item: T): T
  create (input: unknown, options?: ChangeOptions): Promise<Mutation<T>>
  /** The body is the full item; a secret sent back masked, empty or absent keeps the stored one. */
  update (id: string, input: unknown, options?: ItemChangeOptions): Promise<Mutation<T>>
  delete (id: string, options?: ItemChangeOptions): Promise<Mutation<{ deletedId: string }>>
}

export interface ConfigStore extends AlertConfig {
  readonly file: string
  /** The whole stored document, as written (for export). */
  document (): StoreDocument
  servers (): readonly ServerConfig[]
  server (id: string): ServerConfig | undefined
  /** Groups in display order. */
  groups (): GroupConfig[]
  group (id: string): GroupConfig | undefined
  etag (item: StoredItem): string
  // Every change takes an optional `origin` for the audit; the host's calls default to `host`.
  createServer (input: unknown, options?: ChangeOptions): Promise<Mutation<ServerConfig>>
  updateServer (id: string, input: unknown, options?: ItemChangeOptions): Promise<Mutation<ServerConfig>>
  deleteServer (id: string, options?: ItemChangeOptions): Promise<Mutation<{ deletedId: string }>>
  createGroup (input: unknown, options?: ChangeOptions): Promise<Mutation<GroupConfig>>
  updateGroup (id: string, input: unknown, options?: ItemChangeOptions): Promise<Mutation<GroupConfig>>
  deleteGroup (id: string, options?: ItemChangeOptions & { reassign?: ReassignMode }): Promise<Mutation<{ deletedId: string, reassignedServers: string[] }>>
  /**
   * Channels, alert rules and maintenance windows. Their changes are not published (SPEC §10):
   * listeners get an empty change set. A deleted server or group leaves their scopes in the same write.
   */
  collection<K extends CollectionKey> (key: K): ItemCollection<CollectionItem<K>>
  /**
   * Replaces the whole configuration (import, hand edit), validated as a stored document;
   * the audit records it as `action` (default `replace`).
   */
  replace (document: unknown, options?: ChangeOptions & { action?: ReplaceAction }): Promise<Mutation<StoreDocument>>
  /** Called after every persisted change, before the mutating call resolves. */
  onChange (listener: ChangeListener): () => void
  /** Called with what each persisted change did, who made it and from where (SPEC §11), before the mutating call resolves. */
  onAudit (listener: AuditListener): () => void
  /** Called with the seconds each successful write of the data file took (estatus_config_write_seconds). */
  onWrite (listener: (seconds: number) => void): () => void
  health (): StoreHealth
  /**
   * Resolves once the data file itself holds every acknowledged change. (A change is durable
   * when acknowledged — in the journal beside the file; the file follows in the background.)
   */
  flush (): Promise<void>
  close (): Promise<void>
}

export function noChanges (): ChangeSet {
  return { serversAdded: [], serversUpdated: [], serversRemoved: [], groups: null }
}
