import { isIP } from 'node:net'
import { createPinger, effectivePingTimeout, type Pinger, type PingResult } from '../../probes/fping/index.ts'
import { createResolver } from './resolver.ts'
import { createStateMachine } from './state-machine.ts'
import type { Entry, MonitorContext } from './entry.ts'

export interface AvailabilityOptions {
  pingIntervalMs: number
  pingTimeoutMs: number
  /** Default consecutive successes / failures to flip a server online / offline. */
  threshold: number
  fpingPath?: string
  /** false (the app's `monitor: false`): statuses are kept, nothing is resolved or probed. */
  probe?: boolean
}

const IDLE_PINGER: Pinger = { setTargets () {}, changeTargets () {}, error: null, restarts: 0, close: async () => {} }

/**
 * The ICMP side of the monitor: names resolved to addresses, one fping target per
 * address, and the online/offline state machine of SPEC §6.1 fed by its results.
 */
export function createAvailability (ctx: MonitorContext, options: AvailabilityOptions) {
  const { log, entries } = ctx
  const resolver = createResolver()
  const byAddress = new Map<string, Set<Entry>>()
  let icmpError: string | null = null
  let closed = false

  const { record, setOnline } = createStateMachine(ctx, options.threshold)

  function onPing (result: PingResult) {
    const targets = byAddress.get(result.address)
    if (targets === undefined) return
    const error = result.alive ? undefined : `no ICMP echo reply from ${result.address} within ${pingTimeout} ms`
    for (const entry of targets) record(entry, result.alive, { rttMs: result.rttMs, error })
  }

  const probing = options.probe !== false
  const pinger = (probing ? createPinger : () => IDLE_PINGER)({
    intervalMs: options.pingIntervalMs,
    timeoutMs: options.pingTimeoutMs,
    fpingPath: options.fpingPath,
    log,
    onResult: onPing,
    onAvailability (error) {
      icmpError = error
      // The prober has logged it; every status says it too.
      if (error !== null) for (const entry of entries.values()) entry.status.lastError = error
    }
  })
  const pingTimeout = effectivePingTimeout(options.pingIntervalMs, options.pingTimeoutMs)

  /**
   * Addresses that may have been gained or lost since the pinger was last told. The changes
   * of one tick go together (an import adds a thousand servers at once), and only they: with
   * 50,000 servers the whole target set is far too big to hand over per change.
   */
  const touched = new Set<string>()
  function targetsChanged (address: string) {
    if (touched.size === 0) setImmediate(tellPinger)
    touched.add(address)
  }
  function tellPinger () {
    const added: string[] = []
    const removed: string[] = []
    for (const address of touched) (byAddress.has(address) ? added : removed).push(address)
    touched.clear()
    pinger.changeTargets(added, removed)
  }

  function setAddress (entry: Entry, address: string | null) {
    if (entry.address === address) return
    if (entry.address !== null) {
      const set = byAddress.get(entry.address)
      set?.delete(entry)
      if (set?.size === 0) {
        byAddress.delete(entry.address)
        targetsChanged(entry.address)
      }
    }
    entry.address = address
    if (address !== null) {
      let set = byAddress.get(address)
      if (set === undefined) {
        byAddress.set(address, set = new Set())
        targetsChanged(address)
      }
      set.add(entry)
    }
  }

  async function resolveTarget (entry: Entry) {
    if (!probing) return
    const name = entry.server.dnsAddress
    const result = await resolver.resolve(name)
    // Closed meanwhile (this node stopped leading): the answer is for the next prober to ask again.
    if (closed || entries.get(entry.server.id) !== entry || entry.server.dnsAddress !== name) return
    if ('address' in result) setAddress(entry, result.address)
    else { setAddress(entry, null); entry.status.lastError = result.error }
  }

  // Names are looked up again when their cache entry expires; an unresolvable name counts
  // as a failed probe every interval, so the server goes (and stays) offline.
  const nameTimer = setInterval(() => {
    if (!probing) return
    for (const entry of entries.values()) {
      if (isIP(entry.server.dnsAddress)) continue
      if (entry.address === null) record(entry, false, { error: entry.status.lastError ?? `cannot resolve ${entry.server.dnsAddress}` })
      void resolveTarget(entry)
    }
  }, options.pingIntervalMs)
  nameTimer.unref()

  return {
    /** The ICMP problem every status shows, null while fping works. */
    get error () { return icmpError },
    /** fping processes restarted after they ended unasked. */
    get restarts () { return pinger.restarts },
    /** Starts probing an entry's target (a new entry, or every entry of a new leader: what an earlier prober set is not ours). */
    watch (entry: Entry) {
      entry.address = null
      void resolveTarget(entry)
    },
    /** Another target: what was known about the old one says nothing about it. */
    retarget (entry: Entry, fresh: Entry['status']) {
      const wasOnline = entry.status.isOnline
      entry.status = fresh
      if (wasOnline) setOnline(entry, false, entry.status.lastStatusChange)
      setAddress(entry, null)
      void resolveTarget(entry)
    },
    unwatch (entry: Entry) { setAddress(entry, null) },
    async close () {
      closed = true
      clearInterval(nameTimer)
      await pinger.close()
    }
  }
}
