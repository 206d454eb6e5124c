/**
 * The alert configuration's three lists (SPEC §10) as one mechanism: each kind is described
 * here once, and the mutations, the document check, the store and the routes work from the
 * description alone.
 */
import type { StoreDocument } from '../../schemas/config.ts'
import type { AlertRule, AlertRuleInput, Channel, ChannelInput, MaintenanceInput, MaintenanceWindow } from '../../schemas/alerts.ts'
import { checkAlertRule, checkChannel, checkChannelRemoval, checkMaintenance, keepChannelSecrets, maskChannelSecrets } from '../alert-config.ts'
import type { IdKind } from './ids.ts'

export interface CollectionTypes {
  channels: { item: Channel, input: ChannelInput }
  alertRules: { item: AlertRule, input: AlertRuleInput }
  maintenance: { item: MaintenanceWindow, input: MaintenanceInput }
}
export type CollectionKey = keyof CollectionTypes
export type CollectionItem<K extends CollectionKey> = CollectionTypes[K]['item']
export type CollectionInput<K extends CollectionKey> = CollectionTypes[K]['input']

export interface CollectionSpec<K extends CollectionKey> {
  /** The document's counter of generated ids, and their form (`channel-N`). */
  counter: 'nextChannelId' | 'nextRuleId' | 'nextMaintenanceId'
  idKind: IdKind
  /** How messages name one: "Channel with ID 'x' not found". */
  label: string
  /** The rules of one item within a document; `root` prefixes the field names (`channels.3`). */
  check (item: CollectionItem<K>, document: StoreDocument, root?: string): void
  /** What an update keeps of the stored item (secrets sent back masked); on create `stored` is undefined. */
  keep? (next: CollectionItem<K>, stored: CollectionItem<K> | undefined): CollectionItem<K>
  /** Refuses to delete an item others depend on. */
  checkRemoval? (document: StoreDocument, item: CollectionItem<K>): void
  /** The item as clients see it. */
  view (item: CollectionItem<K>): CollectionItem<K>
}

const asStored = <T>(item: T) => item

export const COLLECTIONS: { readonly [K in CollectionKey]: CollectionSpec<K> } = {
  channels: {
    counter: 'nextChannelId',
    idKind: 'channel',
    label: 'Channel',
    check: (channel, _document, root) => checkChannel(channel, root),
    keep: keepChannelSecrets,
    checkRemoval: checkChannelRemoval,
    view: maskChannelSecrets
  },
  alertRules: { counter: 'nextRuleId', idKind: 'rule', label: 'Alert rule', check: checkAlertRule, view: asStored },
  maintenance: { counter: 'nextMaintenanceId', idKind: 'maintenance', label: 'Maintenance window', check: checkMaintenance, view: asStored }
}

export const COLLECTION_KEYS = Object.keys(COLLECTIONS) as CollectionKey[]
