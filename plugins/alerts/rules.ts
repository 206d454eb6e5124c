import type { AlertRule, AlertScope } from '../../schemas/alerts.ts'

interface ScopeSets { every: boolean, servers: ReadonlySet<string>, groups: ReadonlySet<string> }

/**
 * Sets per scope object: stored rules and windows are frozen and replaced on change, so a
 * scope is compiled once however often the engine asks (every second, for every server).
 */
const compiled = new WeakMap<AlertScope, ScopeSets>()

/** Whether a rule's or a maintenance window's scope covers a server (both lists empty: every server). */
export function inScope (scope: AlertScope, serverId: string, groupIds: readonly string[]): boolean {
  let sets = compiled.get(scope)
  if (sets === undefined) {
    sets = { every: scope.serverIds.length === 0 && scope.groupIds.length === 0, servers: new Set(scope.serverIds), groups: new Set(scope.groupIds) }
    compiled.set(scope, sets)
  }
  return sets.every || sets.servers.has(serverId) || groupIds.some(id => sets.groups.has(id))
}

/** The rules the engine applies now: enabled ones only. */
export const activeRules = (rules: readonly AlertRule[]) => rules.filter(rule => rule.enabled)

/**
 * A disk alert fires when the disk reaches `diskPercent`, and is armed again only once the
 * disk is this many points below it: a disk that wavers between 89 % and 90 % alerts once.
 */
export const DISK_REARM_POINTS = 2

/** Whether a fired percent alert may fire again (the hysteresis band above). */
export const diskRearmed = (percentage: number, diskPercent: number) => percentage <= diskPercent - DISK_REARM_POINTS
