import type { StoreDocument } from '../../schemas/config.ts'

// Committed items never change (they are frozen), so each one is serialized once: a write
// of 50,000 servers joins 50,000 cached strings instead of stringifying 6 MB again.
const fragments = new WeakMap<object, string>()

/** An item as `JSON.stringify(document, null, 2)` prints it inside the document's arrays. */
function fragment (item: object): string {
  let text = fragments.get(item)
  if (text === undefined) {
    // JSON escapes newlines inside strings, so every newline here is layout.
    text = JSON.stringify(item, null, 2).replaceAll('\n', '\n    ')
    fragments.set(item, text)
  }
  return text
}

const list = (items: readonly object[]) => (items.length === 0 ? '[]' : `[\n    ${items.map(fragment).join(',\n    ')}\n  ]`)

/** The data file's text: the same as `JSON.stringify(document, null, 2) + '\n'`, from cached parts. */
export function documentText (document: StoreDocument): string {
  return `{\n  "version": ${document.version},\n  "nextServerId": ${document.nextServerId},\n  "nextGroupId": ${document.nextGroupId},\n` +
    `  "nextChannelId": ${document.nextChannelId},\n  "nextRuleId": ${document.nextRuleId},\n  "nextMaintenanceId": ${document.nextMaintenanceId},\n` +
    `  "servers": ${list(document.servers)},\n  "groups": ${list(document.groups)},\n` +
    `  "channels": ${list(document.channels)},\n  "alertRules": ${list(document.alertRules)},\n  "maintenance": ${list(document.maintenance)}\n}\n`
}
