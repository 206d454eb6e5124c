/** What the disk probes (SNMP, NetApp) report per configured disk, and the figures they share. */
import type { DiskInfo } from '../schemas/status.ts'

/** One configured disk or LUN: read, or why not. */
export type DiskReading =
  | { ok: true, disk: DiskInfo }
  | { ok: false, index?: number, name?: string, error: string }

/** The error of every disk of an aborted call. */
export const ABORTED = 'aborted'

const MiB = 1048576

/** Bytes to the DiskInfo figures of SPEC §3.6 (MiB, rounded; percentage of bytes). */
export function diskFigures (totalBytes: number, usedBytes: number): Pick<DiskInfo, 'total' | 'used' | 'free' | 'percentage'> {
  const freeBytes = Math.max(0, totalBytes - usedBytes)
  return {
    total: Math.round(totalBytes / MiB),
    used: Math.round(usedBytes / MiB),
    free: Math.round(freeBytes / MiB),
    percentage: totalBytes > 0 ? Math.min(100, Math.max(0, Math.round(usedBytes / totalBytes * 100))) : 0
  }
}
