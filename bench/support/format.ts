/** Number formats and the results table of the benches. */
export const fmtInt = (n: number): string => n.toLocaleString('en-US')
export const fmt = (n: number, digits = 1): string => Number.isFinite(n) ? n.toFixed(digits) : '-'

/** Prints `rows` under `head`, columns right-aligned except those in `left`. */
export function printTable (head: string[], rows: string[][], left: ReadonlySet<number> = new Set()): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(row => (row[i] as string).length)))
  const line = (cells: string[]): string => cells.map((c, i) => left.has(i) ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)).join(' | ')
  console.log(line(head))
  console.log(widths.map(w => '-'.repeat(w)).join('-+-'))
  for (const row of rows) console.log(line(row))
}
