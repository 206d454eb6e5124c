/**
 * Generated ids (`server-001`, `group-7`, `channel-2`, `rule-3`, `maintenance-4`) and the
 * counters behind them (SPEC §3.1, §10).
 *
 * Counters stay exact, safe integers: only a number up to MAX_COUNTED_SERIAL in an id moves
 * a counter. A larger one (`server-9007199254740993`, `server-` + 57 nines) is a plain name:
 * it is stored as given and the counter stays where it is, so the next generated id never
 * becomes `server-1e+57` and `serial + 1` never stops growing. A counter above that bound
 * in a file (a hand edit, or a file written by an older version) is lowered to it on load.
 */
export const MAX_COUNTED_SERIAL = 1e15
export const MAX_COUNTER = MAX_COUNTED_SERIAL + 1

export type IdKind = 'server' | 'group' | 'channel' | 'rule' | 'maintenance'

const PATTERNS: Record<IdKind, RegExp> = {
  server: /^server-(\d{1,64})$/,
  group: /^group-(\d{1,64})$/,
  channel: /^channel-(\d{1,64})$/,
  rule: /^rule-(\d{1,64})$/,
  maintenance: /^maintenance-(\d{1,64})$/
}

/** The serial an id was (or could have been) generated with; undefined when it does not count. */
export function serialOf (id: string, kind: IdKind): number | undefined {
  const digits = PATTERNS[kind].exec(id)?.[1]?.replace(/^0+(?=\d)/, '')
  // Up to 16 digits a decimal converts exactly; the bound then keeps `+ 1` exact too.
  if (digits === undefined || digits.length > 16) return undefined
  const serial = Number(digits)
  return serial <= MAX_COUNTED_SERIAL ? serial : undefined
}

/** The counter after `ids` are taken: past every serial that counts, never lower than it was. */
export function nextSerial (current: number, ids: Iterable<string>, kind: IdKind): number {
  let next = Math.min(current, MAX_COUNTER)
  for (const id of ids) {
    const serial = serialOf(id, kind)
    if (serial !== undefined && serial >= next) next = serial + 1
  }
  return next
}

const format: Record<IdKind, (serial: number) => string> = {
  server: serial => `server-${String(serial).padStart(3, '0')}`,
  group: serial => `group-${serial}`,
  channel: serial => `channel-${serial}`,
  rule: serial => `rule-${serial}`,
  maintenance: serial => `maintenance-${serial}`
}

/**
 * The next generated id and the counter after it. Every taken id of the generated form
 * counts, so a document's counter is past all of them already; skipping taken ids only
 * keeps a counter that was lowered (a hand edit) from handing one out twice.
 */
export function generateId (kind: IdKind, counter: number, isTaken: (id: string) => boolean): { id: string, next: number } {
  let serial = counter
  while (isTaken(format[kind](serial))) serial++
  return { id: format[kind](serial), next: serial + 1 }
}
