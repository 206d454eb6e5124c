/**
 * Preloaded into every tap test file (.taprc `node-arg`): the parent guard (the file ends
 * with tap, also when tap is SIGKILLed), and on the way out (also when tap's time-out ends
 * the file with SIGALRM, when no teardown runs) the children the file left behind are
 * SIGKILLed: the fping processes of an app in this process, snmpd, the server children.
 * A file killed with SIGKILL runs nothing; then its children end by themselves: a server by
 * its own parent guard, snmpd by its parent-death signal (snmpd.ts), fping at its next
 * output line (SIGPIPE).
 */
import { onExit } from 'signal-exit'
import { killChildren } from './parent-guard.ts'

onExit(() => { killChildren() })
