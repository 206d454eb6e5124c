import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * One connection to the history database (history, alert outbox and audit each open their
 * own), with its schema created. The settings are the database's, the same on every
 * connection: WAL, whose committed transactions survive a crash of the process with
 * `synchronous = NORMAL`; a WAL file cut back to 4 MiB after a checkpoint; and automatic
 * checkpoints every 250 pages, which run inside the commit that crosses them — small ones
 * hold the event loop briefly.
 */
export function openDatabase (file: string, schema: string): Database.Database {
  mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('journal_size_limit = 4194304')
  db.pragma('wal_autocheckpoint = 250')
  db.exec(schema)
  return db
}

/** Closes the connection (once), folding the WAL back into the database file first. */
export function closeDatabase (db: Database.Database): void {
  if (!db.open) return
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}
