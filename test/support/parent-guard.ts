/**
 * Preloaded (`node --import`) into the Node processes the suite starts: the server children
 * (server-process.ts) and, through test-file-guard.ts, every tap test file. Once the process
 * that started this one is gone, this one takes what it started along and exits, instead of
 * living on as an orphan that still listens on 127.0.0.1.
 *
 * A parent that was SIGKILLed (tap killed, or a test file killed by tap's time-out) runs no
 * teardown, so the child has to notice by itself: the kernel re-parents an orphan, so it
 * polls process.ppid. The parent's pid comes from ESTATUS_TEST_PARENT when the spawner set
 * it (it may already be gone when this module loads), else it is the parent at load time.
 */
import { childrenOf, statFields } from './proc.ts'

const POLL_MS = 200
const parent = Number(process.env.ESTATUS_TEST_PARENT) || process.ppid

/** SIGKILLs every child of this process, with the process group it leads (a detached server's probes). */
export function killChildren (): void {
  for (const child of childrenOf(process.pid)) {
    try { process.kill(child.pgrp === child.pid ? -child.pid : child.pid, 'SIGKILL') } catch { /* gone meanwhile */ }
  }
}

setInterval(() => {
  if (process.ppid === parent) return
  killChildren()
  // A detached child leads its own group: whatever its children started goes with it (and so does it).
  if (statFields(process.pid)?.[2] === String(process.pid)) process.kill(-process.pid, 'SIGKILL')
  process.exit(1)
}, POLL_MS).unref()
