import type { AuditEntry } from '../../schemas/audit.ts'

/** An audit entry as stored: its time in epoch milliseconds. */
export type AuditRow = Omit<AuditEntry, 'at'> & { at: number }

/**
 * Where the audit is kept (SPEC §11), behind a small interface so that cluster mode (§12)
 * can put the same table in PostgreSQL. Times are epoch milliseconds.
 */
export interface AuditStorage {
  /** The rows in one transaction, in order; resolves once committed. */
  add (rows: AuditRow[]): Promise<void>
  /** Entries whose `at` is in [from, to], newest first (of one change: the last written first), at most `limit`. */
  list (from: number, to: number, limit: number): Promise<AuditEntry[]>
  /** Deletes the entries older than `before`; returns how many. */
  prune (before: number): Promise<number>
  close (): Promise<void>
}
