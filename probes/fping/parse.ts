/**
 * The output of `fping -l` (without -D/-e/-A/-n), line by line.
 *
 * - Output (stdout, line-buffered): `<name padded> : [seq], 64 bytes, 0.025 ms (...)` and
 *   `<name padded> : [seq], timed out (...)`. RTT has 3/2/1/0 decimals depending on size.
 *   In loop mode a duplicate reply is printed as a second ordinary line with the same seq
 *   (`duplicate for [n]` on stderr only happens outside loop mode), so we de-duplicate.
 *   ICMP errors (`ICMP Host Unreachable from A for ICMP Echo sent to B`) go to stderr and
 *   are followed by the normal `timed out` line.
 */

export interface FpingLine { address: string; seq: number; alive: boolean; rttMs?: number }

const REPLY_RE = /^\[(\d+)\],\s+\d+\s+bytes,\s+(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s+ms\b/
const TIMEOUT_RE = /^\[(\d+)\],\s+timed out\b/
const ICMP_ERROR_RE = /^(.+?) from (\S+) for ICMP Echo sent to (\S+)/

/** Parses one stdout line: a reply or a timeout; null for anything else. */
export function parseFpingLine (line: string): FpingLine | null {
  const sep = line.indexOf(' : ')
  if (sep <= 0) return null
  const address = line.slice(0, sep).trim()
  const rest = line.slice(sep + 3).trim()
  if (address === '' || /\s/.test(address) || rest[0] !== '[') return null
  let m = REPLY_RE.exec(rest)
  if (m !== null) {
    const rttMs = Number(m[2])
    if (!Number.isFinite(rttMs)) return null
    return { address, seq: Number(m[1]), alive: true, rttMs }
  }
  m = TIMEOUT_RE.exec(rest)
  if (m !== null) return { address, seq: Number(m[1]), alive: false }
  return null
}

/** An ICMP error on stderr (`ICMP Host Unreachable from A for ICMP Echo sent to B`): the echo still ends with a "timed out" line. */
export const isIcmpErrorLine = (line: string): boolean => ICMP_ERROR_RE.test(line)

/** `fping -v`: the major and minor version, null when none is printed. */
export function parseFpingVersion (output: string): { major: number, minor: number } | null {
  const m = /Version\s+(\d+)\.(\d+)/.exec(output)
  return m === null ? null : { major: Number(m[1]), minor: Number(m[2]) }
}
