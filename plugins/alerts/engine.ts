import { randomUUID } from 'node:crypto'
import type { Alert, AlertRule } from '../../schemas/alerts.ts'
import { STORM_SERVERS } from '../../schemas/common.ts'
import type { GroupConfig } from '../../schemas/config.ts'
import type { DiskInfo } from '../../schemas/status.ts'
import { diskKey } from '../history/storage.ts'
import type { AlertConfig, OpenAlert } from './types.ts'
import { activeRules, diskRearmed, inScope } from './rules.ts'
import { inMaintenance } from './maintenance.ts'
import { MIN_STORM_SERVERS, STORM_HOLD_MS, STORM_WINDOW_MS, stormCluster, stormThreshold } from './storm.ts'
import * as text from './messages.ts'

interface ServerInfo { id: string, name: string, ip: string }

/** What the engine reads of the configuration besides the alert config. */
export interface Directory {
  servers (): readonly ServerInfo[]
  server (id: string): ServerInfo | undefined
  /** The stored list: the engine indexes it once per list (a change replaces it). */
  groups (): readonly GroupConfig[]
}

export interface AlertEngineOptions {
  config: AlertConfig
  directory: Directory
  clock: () => number
  /** Hands an alert to the outbox; never throws into the engine. */
  send (alert: Alert, channelIds: readonly string[]): void
  /** A server entered or left a maintenance window. */
  setMaintenance (serverId: string, inside: boolean): void
  /** How long a `down` of a server that can storm waits for its group (STORM_HOLD_MS). */
  holdMs?: number
  newId?: () => string
}

/** What the engine knows of a server. */
interface Tracked {
  /** null until the monitor has decided (a new server starts offline without having gone down). */
  down: boolean | null
  /** When `down` last changed. */
  since: number
  maintenance: boolean
  disks: readonly DiskInfo[] | null
  /** Days to full per disk (by diskKey), from the last forecast; null until one was read. */
  daysToFull: ReadonlyMap<string, number | null> | null
}

/** One rule's `down` of one server: held, waiting in a storm, or sent. */
interface DownNotice {
  ruleId: string
  serverId: string
  since: number
  /** When a held single is sent if no storm takes it. */
  releaseAt: number
  /** The last time it was sent (first or repeated); null while held. */
  sentAt: number | null
  episode: Episode | null
}

/** One rule's storm in one group: the servers it announced and those waiting to be. */
interface Episode {
  key: string
  rule: AlertRule['id']
  group: { id: string, name: string }
  since: number
  unsent: Set<string>
  /** Announced and still down. */
  down: Set<string>
  /** Every server it announced, with when it went down. */
  announced: Map<string, number>
  releaseAt: number
  sentAt: number | null
}

/** A disk condition of one rule on one disk: present from when it holds until re-armed. */
interface DiskNotice { since: number, sentAt: number | null }

const pairKey = (...parts: string[]) => parts.join('\n')
const iso = (time: number) => new Date(time).toISOString()
const seconds = (ms: number) => Math.max(0, Math.round(ms / 1000))

/**
 * The rules of SPEC §10 over what the monitor reports: pure state driven by the caller's
 * calls and clock (the plugin feeds it the monitor's results and ticks it every second).
 * Rules and windows are read through AlertConfig at every evaluation, so a change applies
 * from the next result or tick.
 */
export function createAlertEngine (options: AlertEngineOptions) {
  const { config, directory, clock } = options
  const holdMs = options.holdMs ?? STORM_HOLD_MS
  const newId = options.newId ?? randomUUID
  const tracked = new Map<string, Tracked>()
  const downs = new Map<string, DownNotice>()
  const episodes = new Map<string, Episode>()
  let episodeCount = 0
  const diskNotices = new Map<string, DiskNotice>()
  /**
   * Disk alerts sent before a restart, by rule, server, the disk's name in the alert and the
   * condition: each becomes the disk's notice at its first evaluation (the key of diskNotices
   * is the disk's diskKey, which an alert does not carry).
   */
  const restoredDisks = new Map<string, DiskNotice>()

  let groupIndex: { of: readonly GroupConfig[], byServer: Map<string, GroupConfig[]>, byId: Map<string, GroupConfig> } | null = null
  function groupsIndex () {
    const groups = directory.groups()
    if (groupIndex?.of !== groups) {
      const byServer = new Map<string, GroupConfig[]>()
      for (const group of groups) for (const id of group.serverIds) byServer.set(id, [...(byServer.get(id) ?? []), group])
      groupIndex = { of: groups, byServer, byId: new Map(groups.map(group => [group.id, group])) }
    }
    return groupIndex
  }
  const groupsOf = (id: string) => groupsIndex().byServer.get(id) ?? []
  const groupIdsOf = (id: string) => groupsOf(id).map(group => group.id)
  const covers = (rule: AlertRule, id: string) => inScope(rule.scope, id, groupIdsOf(id))
  const canStorm = (id: string) => groupsOf(id).some(group => group.serverIds.length >= MIN_STORM_SERVERS)

  function trackedOf (id: string): Tracked {
    let server = tracked.get(id)
    if (server === undefined) {
      server = { down: null, since: clock(), maintenance: false, disks: null, daysToFull: null }
      tracked.set(id, server)
    }
    return server
  }

  const renotifyDue = (rule: AlertRule, sentAt: number, now: number) => rule.renotifyMinutes > 0 && now >= sentAt + rule.renotifyMinutes * 60_000

  function emit (rule: AlertRule, alert: Omit<Alert, 'id' | 'rule'>) {
    options.send({ id: newId(), rule: { id: rule.id, name: rule.name }, ...alert }, rule.channelIds)
  }

  const infoOf = (id: string): ServerInfo => {
    const server = directory.server(id)
    return server === undefined ? { id, name: id, ip: '' } : { id: server.id, name: server.name, ip: server.ip }
  }
  const groupNames = (id: string) => groupsOf(id).map(group => group.name)

  // ---- down and up, one server at a time ----

  function sendDown (rule: AlertRule, notice: DownNotice, now: number, repeat: boolean) {
    const server = infoOf(notice.serverId)
    const durationSeconds = seconds(now - notice.since)
    emit(rule, {
      kind: 'down',
      server,
      groups: groupNames(server.id),
      at: iso(now),
      since: iso(notice.since),
      durationSeconds,
      message: text.downMessage(server, iso(notice.since), durationSeconds, repeat)
    })
    notice.sentAt = now
  }

  function sendUp (rule: AlertRule, notice: DownNotice, upSince: number, now: number) {
    const server = infoOf(notice.serverId)
    const durationSeconds = seconds(upSince - notice.since)
    emit(rule, {
      kind: 'up',
      server,
      groups: groupNames(server.id),
      at: iso(now),
      since: iso(upSince),
      durationSeconds,
      message: text.upMessage(server, durationSeconds)
    })
  }

  /** Forgets a notice without a word (never announced, or its rule or server is gone). */
  function dropNotice (notice: DownNotice) {
    downs.delete(pairKey(notice.ruleId, notice.serverId))
    const episode = notice.episode
    if (episode === null) return
    episode.unsent.delete(notice.serverId)
    episode.down.delete(notice.serverId)
    if (episode.unsent.size === 0 && episode.down.size === 0) episodes.delete(episode.key)
  }

  function evaluateAvailability (rule: AlertRule, id: string, server: Tracked, now: number) {
    const key = pairKey(rule.id, id)
    let notice = downs.get(key)
    if (server.down === false) {
      if (notice === undefined) return
      if (notice.sentAt === null) return dropNotice(notice)
      // Said after the window: the on-call was told it is down, and should hear it is back.
      if (server.maintenance) return
      downs.delete(key)
      if (notice.episode !== null) return memberUp(rule, notice.episode, id, now)
      if (rule.on.includes('up')) sendUp(rule, notice, server.since, now)
      return
    }
    if (server.down !== true || server.maintenance) return
    if (notice === undefined) {
      const due = server.since + rule.forSeconds * 1000
      if (!rule.on.includes('down') || now < due) return
      notice = { ruleId: rule.id, serverId: id, since: server.since, releaseAt: due + (canStorm(id) ? holdMs : 0), sentAt: null, episode: null }
      downs.set(key, notice)
      groupIntoStorm(rule, notice, now)
    }
    if (notice.episode !== null) return
    if (notice.sentAt === null) {
      if (now >= notice.releaseAt) sendDown(rule, notice, now, false)
    } else if (renotifyDue(rule, notice.sentAt, now)) sendDown(rule, notice, now, true)
  }

  // ---- storms ----

  function join (episode: Episode, notice: DownNotice, now: number) {
    notice.episode = episode
    episode.unsent.add(notice.serverId)
    episode.releaseAt = Math.min(episode.releaseAt, notice.releaseAt)
    // Nothing more can join a group that is down as a whole: no need to wait.
    const group = groupsIndex().byId.get(episode.group.id)
    if (group !== undefined && group.serverIds.every(id => tracked.get(id)?.down === true)) episode.releaseAt = now
  }

  /** Puts a newly due `down` into its group's storm: one that is on, or one it completes. */
  function groupIntoStorm (rule: AlertRule, notice: DownNotice, now: number) {
    const dueFor = (server: Tracked) => server.down === true && !server.maintenance && now >= server.since + rule.forSeconds * 1000
    for (const group of groupsOf(notice.serverId)) {
      if (group.serverIds.length < MIN_STORM_SERVERS) continue
      // A storm of this group that began within the window takes it; an older one (some of
      // its servers still down) does not stop a new one from forming.
      const current = [...episodes.values()].find(episode => episode.rule === rule.id && episode.group.id === group.id && Math.abs(notice.since - episode.since) <= STORM_WINDOW_MS)
      if (current !== undefined) return join(current, notice, now)
      const downNow = group.serverIds.flatMap(id => {
        const server = tracked.get(id)
        return server !== undefined && dueFor(server) ? [{ id, since: server.since }] : []
      })
      const cluster = stormCluster(downNow, notice.since)
      if (cluster.length < stormThreshold(group.serverIds.length)) continue
      const key = pairKey(rule.id, group.id, String(++episodeCount))
      const episode: Episode = {
        key,
        rule: rule.id,
        group: { id: group.id, name: group.name },
        since: cluster[0]!.since,
        unsent: new Set(),
        down: new Set(),
        announced: new Map(),
        releaseAt: Infinity,
        sentAt: null
      }
      episodes.set(key, episode)
      for (const member of cluster) {
        if (!covers(rule, member.id)) continue
        const memberKey = pairKey(rule.id, member.id)
        let memberNotice = member.id === notice.serverId ? notice : downs.get(memberKey)
        if (memberNotice === undefined) {
          memberNotice = { ruleId: rule.id, serverId: member.id, since: member.since, releaseAt: member.since + rule.forSeconds * 1000 + holdMs, sentAt: null, episode: null }
          downs.set(memberKey, memberNotice)
        }
        // Announced alone already, or part of another group's storm: not twice.
        if (memberNotice.sentAt === null && memberNotice.episode === null) join(episode, memberNotice, now)
      }
      if (episode.unsent.size === 0) episodes.delete(key)
      if (notice.episode !== null) return
    }
  }

  function stormAlert (rule: AlertRule, episode: Episode, ids: string[], now: number, kind: 'down' | 'up', message: (servers: ServerInfo[], groupSize: number) => string, since: number) {
    const servers = ids.map(infoOf)
    const groupSize = groupsIndex().byId.get(episode.group.id)?.serverIds.length ?? servers.length
    emit(rule, {
      kind,
      server: servers[0]!,
      groups: [episode.group.name],
      at: iso(now),
      since: iso(since),
      durationSeconds: seconds(now - since),
      // The schema's bound: the message still counts every server.
      storm: { group: episode.group, servers: servers.slice(0, STORM_SERVERS) },
      message: message(servers, groupSize)
    })
  }

  const bySince = (ids: Iterable<string>) => [...ids].sort((a, b) => (tracked.get(a)?.since ?? 0) - (tracked.get(b)?.since ?? 0))

  /** Sends the storm's waiting servers once their hold is over; repeats it while any is down. */
  function releaseEpisode (rule: AlertRule, episode: Episode, now: number) {
    if (episode.unsent.size > 0 && now >= episode.releaseAt) {
      const ready: string[] = []
      for (const id of bySince(episode.unsent)) {
        const notice = downs.get(pairKey(rule.id, id))!
        // In a window now: it gets its own alert after the window, if still down.
        if (tracked.get(id)?.maintenance === true) dropNotice(notice)
        else ready.push(id)
      }
      if (ready.length > 0) {
        const first = episode.sentAt === null
        const since = first ? episode.since : tracked.get(ready[0]!)!.since
        stormAlert(rule, episode, ready, now, 'down', (servers, size) => text.stormDownMessage(episode.group.name, servers, size, first, false), since)
        for (const id of ready) {
          downs.get(pairKey(rule.id, id))!.sentAt = now
          episode.unsent.delete(id)
          episode.down.add(id)
          episode.announced.set(id, tracked.get(id)!.since)
        }
        episode.sentAt = now
      }
      episode.releaseAt = Infinity
      return
    }
    if (episode.sentAt !== null && episode.down.size > 0 && renotifyDue(rule, episode.sentAt, now)) {
      // Taken up after a restart: not before the monitor has decided about each of them.
      if ([...episode.down].some(id => (tracked.get(id)?.down ?? null) === null)) return
      const still = bySince(episode.down).filter(id => tracked.get(id)?.maintenance !== true)
      if (still.length > 0) stormAlert(rule, episode, still, now, 'down', (servers, size) => text.stormDownMessage(episode.group.name, servers, size, false, true), episode.since)
      episode.sentAt = now
    }
  }

  /** An announced member is back: the storm's `up` is sent once every announced member is. */
  function memberUp (rule: AlertRule, episode: Episode, id: string, now: number) {
    episode.down.delete(id)
    if (episode.down.size > 0 || episode.unsent.size > 0) return
    episodes.delete(episode.key)
    if (!rule.on.includes('up')) return
    const announced = [...episode.announced].sort(([, a], [, b]) => a - b).map(([id]) => id)
    stormAlert(rule, episode, announced, now, 'up', servers => text.stormUpMessage(episode.group.name, servers, seconds(now - episode.since)), episode.since)
  }

  // ---- disks ----

  function evaluateDisks (rule: AlertRule, id: string, server: Tracked, now: number) {
    if (!rule.on.includes('disk') || server.disks === null) return
    for (const disk of server.disks) {
      const key = diskKey(disk)
      const name = disk.name ?? disk.description ?? key
      const percent = rule.diskPercent
      if (percent !== undefined) {
        condition(pairKey(rule.id, id, key, 'percent'), pairKey(rule.id, id, name, 'percent'), disk.percentage >= percent, diskRearmed(disk.percentage, percent), repeat => ({
          disk: { name, percentage: disk.percentage },
          message: text.diskPercentMessage(infoOf(id), name, disk.percentage, percent, repeat)
        }))
      }
      const days = rule.diskDaysToFull
      // Not before the forecast is read: until then nothing says the condition has ended.
      if (days !== undefined && server.daysToFull !== null) {
        const daysToFull = server.daysToFull.get(key) ?? null
        const firing = daysToFull !== null && daysToFull <= days
        condition(pairKey(rule.id, id, key, 'days'), pairKey(rule.id, id, name, 'days'), firing, !firing, repeat => ({
          disk: { name, percentage: disk.percentage, daysToFull: daysToFull! },
          message: text.diskDaysMessage(infoOf(id), name, disk.percentage, daysToFull!, days, repeat)
        }))
      }
    }

    function condition (key: string, restoredKey: string, firing: boolean, rearmed: boolean, content: (repeat: boolean) => Pick<Alert, 'disk' | 'message'>) {
      let notice = diskNotices.get(key)
      if (notice === undefined && restoredDisks.has(restoredKey)) {
        notice = restoredDisks.get(restoredKey)!
        restoredDisks.delete(restoredKey)
        diskNotices.set(key, notice)
      }
      if (notice === undefined) {
        if (!firing) return
        notice = { since: now, sentAt: null }
        diskNotices.set(key, notice)
      } else if (rearmed) {
        diskNotices.delete(key)
        return
      }
      if (!firing || server.maintenance) return
      const repeat = notice.sentAt !== null
      if (repeat && !renotifyDue(rule, notice.sentAt!, now)) return
      const info = infoOf(id)
      emit(rule, { kind: 'disk', server: info, groups: groupNames(id), at: iso(now), since: iso(notice.since), ...content(repeat) })
      notice.sentAt = now
    }
  }

  // ---- the whole ----

  const currentRules = () => activeRules(config.alertRules())

  function evaluateServer (rules: readonly AlertRule[], id: string, now: number) {
    const server = tracked.get(id)
    if (server === undefined) return
    for (const rule of rules) {
      if (!covers(rule, id)) continue
      evaluateAvailability(rule, id, server, now)
      evaluateDisks(rule, id, server, now)
    }
  }

  function releaseEpisodes (rules: readonly AlertRule[], now: number) {
    const byId = new Map(rules.map(rule => [rule.id, rule]))
    for (const episode of episodes.values()) {
      const rule = byId.get(episode.rule)
      if (rule !== undefined) releaseEpisode(rule, episode, now)
    }
  }

  /** Drops the state of rules that were deleted or disabled, or no longer cover a server. */
  function dropStale (rules: readonly AlertRule[]) {
    const byId = new Map(rules.map(rule => [rule.id, rule]))
    for (const notice of downs.values()) {
      const rule = byId.get(notice.ruleId)
      if (rule === undefined || !tracked.has(notice.serverId) || !covers(rule, notice.serverId)) dropNotice(notice)
    }
    for (const [key, episode] of episodes) if (!byId.has(episode.rule)) episodes.delete(key)
    for (const notices of [diskNotices, restoredDisks]) {
      for (const key of notices.keys()) {
        const [ruleId, serverId] = key.split('\n') as [string, string]
        const rule = byId.get(ruleId)
        if (rule === undefined || !tracked.has(serverId) || !covers(rule, serverId)) notices.delete(key)
      }
    }
  }

  function forgetNotices (id: string) {
    for (const notice of downs.values()) if (notice.serverId === id) dropNotice(notice)
    for (const notices of [diskNotices, restoredDisks]) for (const key of notices.keys()) if (key.split('\n')[1] === id) notices.delete(key)
  }

  /** Storm downs of one rule and group from the log: one episode per wave (STORM_WINDOW_MS from its first). */
  function restoreEpisodes (members: OpenAlert[]) {
    // Earliest first, and within one alert in its order (the order the servers went down).
    members.sort((a, b) => a.since - b.since || a.at - b.at || a.storm!.position - b.storm!.position)
    let episode: Episode | null = null
    for (const member of members) {
      if (episode === null || member.since - episode.since > STORM_WINDOW_MS) {
        const key = pairKey(member.ruleId, member.storm!.group.id, String(++episodeCount))
        episode = { key, rule: member.ruleId, group: member.storm!.group, since: member.since, unsent: new Set(), down: new Set(), announced: new Map(), releaseAt: Infinity, sentAt: member.at }
        episodes.set(key, episode)
      }
      downs.set(pairKey(member.ruleId, member.serverId), { ruleId: member.ruleId, serverId: member.serverId, since: member.since, releaseAt: member.since, sentAt: member.at, episode })
      episode.down.add(member.serverId)
      episode.announced.set(member.serverId, member.since)
      episode.sentAt = Math.max(episode.sentAt!, member.at)
    }
  }

  return {
    /**
     * Takes up what was sent before a restart (outbox.openAlerts()) as sent: no second `down`
     * or `disk` alert for what lasts, an `up` once the monitor says a server is online again,
     * re-notifications counted from the last. Nothing is decided before the monitor decides.
     */
    restore (open: readonly OpenAlert[]) {
      const storms = new Map<string, OpenAlert[]>()
      for (const alert of open) {
        if (alert.disk !== undefined) {
          restoredDisks.set(pairKey(alert.ruleId, alert.serverId, alert.disk.name, alert.disk.byDays ? 'days' : 'percent'), { since: alert.since, sentAt: alert.at })
        } else if (alert.storm !== undefined) {
          const key = pairKey(alert.ruleId, alert.storm.group.id)
          storms.set(key, [...(storms.get(key) ?? []), alert])
        } else {
          downs.set(pairKey(alert.ruleId, alert.serverId), { ruleId: alert.ruleId, serverId: alert.serverId, since: alert.since, releaseAt: alert.since, sentAt: alert.at, episode: null })
        }
      }
      for (const members of storms.values()) restoreEpisodes(members)
    },

    /** A decided availability of a server (a flip, or its first decided state); other results change nothing. */
    availability (id: string, isOnline: boolean) {
      const server = trackedOf(id)
      if (server.down === !isOnline) return
      const now = clock()
      server.down = !isOnline
      server.since = now
      const rules = currentRules()
      evaluateServer(rules, id, now)
      releaseEpisodes(rules, now)
    },

    /** Whether the server is known to be down already (then an offline result changes nothing). */
    knownDown: (id: string) => tracked.get(id)?.down === true,

    /** A disk reading: the disks that could be read (null until the first). */
    disks (id: string, disks: readonly DiskInfo[] | null) {
      const server = trackedOf(id)
      server.disks = disks
      evaluateServer(currentRules(), id, clock())
    },

    /** Days to full per disk (by diskKey; null: no forecast) from §9's forecast. */
    forecasts (id: string, daysToFull: ReadonlyMap<string, number | null>) {
      const server = tracked.get(id)
      if (server === undefined) return
      server.daysToFull = daysToFull
      evaluateServer(currentRules(), id, clock())
    },

    /** Whether a days-to-full rule covers the server (its forecast is worth reading). */
    wantsForecast (id: string) {
      return currentRules().some(rule => rule.diskDaysToFull !== undefined && rule.on.includes('disk') && covers(rule, id))
    },

    /** Every second: maintenance windows, forSeconds, holds, re-notifications, config changes. */
    tick () {
      const now = clock()
      const windows = config.maintenanceWindows()
      for (const { id } of directory.servers()) {
        const server = trackedOf(id)
        const inside = inMaintenance(windows, id, groupIdsOf(id), now)
        if (inside === server.maintenance) continue
        server.maintenance = inside
        options.setMaintenance(id, inside)
      }
      const rules = currentRules()
      dropStale(rules)
      for (const id of tracked.keys()) evaluateServer(rules, id, now)
      releaseEpisodes(rules, now)
    },

    /** Its target changed: what was known says nothing about the new one (nothing is sent). */
    reset (id: string) {
      forgetNotices(id)
      const server = tracked.get(id)
      if (server !== undefined) Object.assign(server, { down: null, since: clock(), disks: null, daysToFull: null })
    },

    /** The server was deleted. */
    forget (id: string) {
      forgetNotices(id)
      tracked.delete(id)
    }
  }
}

export type AlertEngine = ReturnType<typeof createAlertEngine>
