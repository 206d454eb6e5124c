// Tests of probes/fping/ against the real fping binary.
// Network traffic: only 127.0.0.0/8 (and ::1), and two network namespaces created here
// and joined by a veth pair that exists nowhere else (nothing can leave the machine).
import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestHosts, netnsSkipReason, run, which, type TestHosts } from './support/netns.ts'
import { fpingChildren, isAlive } from './support/proc.ts'
import type { Test } from './support/app.ts'
import { becomes, sleep, waitFor } from './support/wait.ts'
import { createPinger, effectivePingTimeout, parseFpingLine, placeTargets, shardLayout, type PingResult } from '../probes/fping/index.ts'
import { isIcmpErrorLine, parseFpingVersion } from '../probes/fping/parse.ts'
import { isResolved, markResolved, newTrack, resolveUpTo } from '../probes/fping/sequence.ts'

const FPING = which('fping')

function collector () {
  const results: PingResult[] = []
  return {
    results,
    onResult: (r: PingResult) => { results.push(r) },
    of: (address: string) => results.filter((r) => r.address === address)
  }
}

function testLog () {
  const lines: Array<{ level: string, args: any[] }> = []
  const at = (level: string) => (...args: any[]) => { lines.push({ level, args }) }
  return {
    lines,
    log: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') },
    text: (level: string) => lines.filter((l) => l.level === level).map((l) => l.args.map((a) => typeof a === 'string' ? a : JSON.stringify(a)).join(' '))
  }
}

function range (prefix: string, from: number, to: number): string[] {
  const out: string[] = []
  for (let i = from; i <= to; i++) out.push(`${prefix}${i}`)
  return out
}

t.test('parseFpingLine', async (t) => {
  t.same(parseFpingLine('127.0.0.1   : [0], 64 bytes, 0.025 ms (0.025 avg, 0% loss)'),
    { address: '127.0.0.1', seq: 0, alive: true, rttMs: 0.025 }, 'padded name, 3 decimals')
  t.same(parseFpingLine('10.0.0.2 : [12], 64 bytes, 1.25 ms (1.30 avg, 0% loss)'), { address: '10.0.0.2', seq: 12, alive: true, rttMs: 1.25 })
  t.same(parseFpingLine('10.0.0.2 : [13], 64 bytes, 50.6 ms (12.8 avg, 50% loss)'), { address: '10.0.0.2', seq: 13, alive: true, rttMs: 50.6 })
  t.same(parseFpingLine('10.0.0.2 : [14], 64 bytes, 1234 ms (12.8 avg, 150% return)'), { address: '10.0.0.2', seq: 14, alive: true, rttMs: 1234 })
  t.same(parseFpingLine('10.0.0.9 : [3], timed out (NaN avg, 100% loss)'), { address: '10.0.0.9', seq: 3, alive: false })
  t.same(parseFpingLine('::1         : [7], 64 bytes, 0.1 ms (0.1 avg, 0% loss)'), { address: '::1', seq: 7, alive: true, rttMs: 0.1 })
  for (const junk of ['', 'garbage', '10.0.0.9 : xmt/rcv/%loss = 3/0/100%', 'ICMP Host Unreachable from 10.0.0.1 for ICMP Echo sent to 10.0.0.9',
    '10.0.0.9 : duplicate for [3], 64 bytes, 0.1 ms', '[1795879288.20766] 127.0.0.1 : [0], 64 bytes, 0.031 ms (0.031 avg, 0% loss)',
    '10.0.0.9 : [x], timed out', '10.0.0.9 : [1], 64 bytes, abc ms']) {
    t.equal(parseFpingLine(junk), null, `ignored: ${JSON.stringify(junk)}`)
  }
})

t.test('stderr and version lines', async (t) => {
  t.ok(isIcmpErrorLine('ICMP Host Unreachable from 10.0.0.1 for ICMP Echo sent to 10.0.0.9'))
  t.notOk(isIcmpErrorLine("fping: can't create socket (must run as root?)"))
  t.same(parseFpingVersion('fping: Version 5.1\n'), { major: 5, minor: 1 })
  t.same(parseFpingVersion('fping: Version 4.2'), { major: 4, minor: 2 })
  t.equal(parseFpingVersion('usage: fping [options]'), null)
})

t.test('sequence tracking: in order, one out of order, duplicates, gaps reported lost', async (t) => {
  const track = newTrack(3)
  markResolved(track, 0)
  t.ok(isResolved(track, 0), 'seq 0 resolved')
  t.notOk(isResolved(track, 1))
  markResolved(track, 2) // a reply that overtook the "timed out" line of 1
  t.same([track.next, track.ahead], [1, [2]], '2 waits ahead of 1')
  t.ok(isResolved(track, 2), 'a duplicate of 2 is recognised')
  markResolved(track, 1)
  t.same([track.next, track.ahead], [3, []], '1 closes the gap')
  const lost: number[] = []
  markResolved(track, 5)
  resolveUpTo(track, 7, (seq) => lost.push(seq))
  t.same(lost, [3, 4, 6], 'every seq below 7 without a result is lost, 5 is not')
  t.equal(track.next, 7)
  resolveUpTo(track, 7, (seq) => lost.push(seq))
  t.same(lost, [3, 4, 6], 'nothing is reported twice')
})

t.test('placement: shards that restart anyway first, then the emptiest, then new shards', async (t) => {
  t.same(placeTargets([], 5, 2), { existing: [], fresh: [2, 2, 1] }, 'no shards: new ones, full')
  t.same(placeTargets([{ size: 1, changed: false }, { size: 8, changed: true }], 1, 10), { existing: [0, 1], fresh: [] },
    'into the shard that restarts anyway, though the other has more room')
  t.same(placeTargets([{ size: 9, changed: false }, { size: 4, changed: false }], 3, 10), { existing: [0, 3], fresh: [] }, 'else where there is most room')
  t.same(placeTargets([{ size: 9, changed: true }, { size: 4, changed: false }], 8, 10), { existing: [1, 6], fresh: [1] }, 'spill over, then a new shard')
  t.same(placeTargets([{ size: 10, changed: true }], 0, 10), { existing: [0], fresh: [] }, 'nothing to place')
})

t.test('effective timeout and shard size', async (t) => {
  t.equal(effectivePingTimeout(1000, 5000), 1000, 'capped to the interval')
  t.equal(effectivePingTimeout(1000, 300), 300)
  t.equal(effectivePingTimeout(60_000, 5000), 5000, 'not capped at 2000: fping accepts any -t in loop mode')
  t.equal(effectivePingTimeout(60_000, 30_000), 10_000, 'fping matches no reply older than 10 s')
  t.equal(effectivePingTimeout(1, 5000), 10, 'period at least 10 ms')
  t.same(shardLayout(1000), { gapMs: 0.17, targetsPerProcess: 2500 }, '2,500 echoes/s per process, a round in 80 % of the period')
  t.same(shardLayout(1000, true), { gapMs: 1, targetsPerProcess: 695 }, 'fping with safe limits: -i 1')
  t.same(shardLayout(200), { gapMs: 0.17, targetsPerProcess: 500 })
  t.same(shardLayout(60_000), { gapMs: 1, targetsPerProcess: 4000 }, 'bounded command line, -i at most 1')
  t.same(shardLayout(1000, false, 20), { gapMs: 1, targetsPerProcess: 20 }, 'maxTargetsPerProcess')
  t.same(shardLayout(1), { gapMs: 0.17, targetsPerProcess: 25 }, 'period at least 10 ms')
  for (const period of [10, 50, 200, 1000, 5000, 60_000]) {
    const l = shardLayout(period)
    t.ok((l.gapMs + 0.15) * l.targetsPerProcess <= 0.8 * period + 1e-9, `${period} ms: a round fits in 80 % of the period`)
  }
})

t.test('fping output quirks (a fake fping printing canned lines)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fping-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fake = join(dir, 'fping')
  writeFileSync(fake, `#!/bin/sh
[ "$1" = "-v" ] && { echo "fping: Version 5.1"; exit 0; }
echo "127.0.0.1   : [0], 64 bytes, 0.025 ms (0.025 avg, 0% loss)"
echo "127.0.0.1   : [0], 64 bytes, 0.031 ms (0.028 avg, 0% return)"
echo "something fping 9 might print"
echo "ICMP Host Unreachable from 127.0.0.1 for ICMP Echo sent to 127.0.0.1" >&2
echo "127.0.0.1   : [1], timed out (0.028 avg, 33% loss)"
echo "127.0.0.99  : [0], 64 bytes, 0.025 ms (0.025 avg, 0% loss)"
echo "127.0.0.1   : [987654321], timed out (0.028 avg, 33% loss)"
sleep 0.6
echo "127.0.0.1   : [3], 64 bytes, 12 ms (3 avg, 25% loss)"
echo "127.0.0.1   : [4], 64 bytes, 1.50 ms (3 avg, 20% loss)"
sleep 0.2
echo "127.0.0.1   : [6], 64 bytes, 2.00 ms (3 avg, 20% loss)"
echo "127.0.0.1   : [5], timed out (3 avg, 25% loss)"
exec sleep 60
`, { mode: 0o755 })
  const c = collector()
  const tl = testLog()
  // (period 100 ms: [3] is possible 0.6 s after the start, [987654321] is not)
  const p = createPinger({ intervalMs: 100, timeoutMs: 100, fpingPath: fake, log: tl.log, onResult: c.onResult })
  t.teardown(async () => await p.close())
  p.setTargets(['127.0.0.1'])
  t.ok(await becomes(() => c.results.length >= 7, 10_000), 'results')
  t.ok(c.results.length < 12, 'no flood of invented losses')
  t.same(c.results.slice(0, 7).map((r) => r.alive ? r.rttMs : 'lost'), [0.025, 'lost', 'lost', 12, 1.5, 'lost', 2],
    'duplicate [0] dropped, [1] timed out, [2] never printed → lost before [3], [5] settled as lost before [6] and its late "timed out" line ignored, unknown lines and impossible seqs ignored')
  t.same([...new Set(c.results.map((r) => r.address))], ['127.0.0.1'], 'lines for addresses we did not ask for are ignored')
  t.equal(p.error, null)
})

t.test('real fping', { skip: FPING === null ? 'fping is not installed (Debian package fping)' : false }, async (t) => {
  t.test('loopback targets answer about once per interval, all from one fping process', async (t) => {
    const c = collector()
    const { log } = testLog()
    const interval = 200
    const p = createPinger({ intervalMs: interval, timeoutMs: 1000, log, onResult: c.onResult })
    t.teardown(async () => await p.close())
    const targets = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']
    if (existsSync('/proc/net/if_inet6') && readFileSync('/proc/net/if_inet6', 'utf8').includes(' lo')) targets.push('::1')
    p.setTargets(targets)
    t.ok(await becomes(() => targets.every((a) => c.of(a).length > 0), 10_000), 'every target answers')
    const base = new Map(targets.map((a) => [a, c.of(a).length]))
    const t0 = Date.now()
    await sleep(3000)
    const elapsed = Date.now() - t0
    const expected = elapsed / interval
    for (const a of targets) {
      const rs = c.of(a).slice(base.get(a))
      t.ok(rs.length >= expected * 0.6 && rs.length <= expected * 1.25 + 1,
        `${a}: ${rs.length} results in ${elapsed} ms (ideal ${expected.toFixed(1)})`)
      t.ok(rs.every((r) => r.alive && typeof r.rttMs === 'number' && r.rttMs >= 0 && r.rttMs < interval), `${a}: alive with an RTT`)
      t.ok(rs.every((r) => r.at >= t0 - 100 && r.at <= Date.now()), `${a}: at is the epoch ms of the result`)
    }
    const kids = fpingChildren()
    t.equal(kids.length, 1, 'one fping process probes all targets')
    t.same([...kids[0]?.targets ?? []].sort(), [...targets].sort(), 'with exactly the targets as arguments')
    t.ok(kids[0]?.argv.includes('-l'), 'in loop mode')
    await p.close()
    await p.close()
    t.same(fpingChildren(), [], 'close() (twice) leaves no fping process')
    const n = c.results.length
    await sleep(500)
    t.equal(c.results.length, n, 'no result after close()')
  })

  t.test('setTargets applies a delta: removed targets stop, untouched shards keep running', async (t) => {
    const c = collector()
    const { log } = testLog()
    const interval = 500 // the gap check below tolerates ~0.5 s of scheduling delay on a loaded machine
    const cap = 40
    const p = createPinger({ intervalMs: interval, timeoutMs: interval, log, onResult: c.onResult, maxTargetsPerProcess: cap })
    t.teardown(async () => await p.close())
    const targets = range('127.0.1.', 1, cap + 20) // two shards: 40 + 20
    p.setTargets(targets)
    t.ok(await becomes(() => targets.every((a) => c.of(a).length >= 2), 10_000), 'all targets answer')
    let kids = fpingChildren()
    t.equal(kids.length, 2, `two shards of at most ${cap}`)
    const X = '127.0.1.1'
    const Y = '127.0.1.2' // shares X's shard and stays
    const shardA = kids.find((k) => k.targets.includes(X))
    const shardB = kids.find((k) => !k.targets.includes(X))
    if (shardA === undefined || shardB === undefined) { t.fail('shards not found'); return }

    // remove X
    const kept = targets.filter((a) => a !== X)
    const tRestart = Date.now()
    p.setTargets(kept)
    const xCount = c.of(X).length
    t.ok(await becomes(() => fpingChildren().every((k) => !k.targets.includes(X)), 10_000), 'no fping process has the removed target any more')
    t.ok(await becomes(() => fpingChildren().length === 2, 10_000), 'still two processes')
    kids = fpingChildren()
    const b2 = kids.find((k) => k.pid === shardB.pid)
    t.ok(b2, 'the untouched shard kept its pid (not restarted)')
    t.same(b2?.targets, shardB.targets, '… and its targets')
    const a2 = kids.find((k) => k.pid !== shardB.pid)
    t.not(a2?.pid, shardA.pid, 'the changed shard runs in a new process')
    t.same(a2?.targets, shardA.targets.filter((a) => a !== X), '… with the kept targets')
    await sleep(2000)
    t.equal(c.of(X).length, xCount, 'no result for the removed target after setTargets')
    // Y (kept, restarted shard) must not miss a round: no gap of two periods
    const ys = c.of(Y).filter((r) => r.at >= tRestart - 1500).map((r) => r.at)
    let maxGap = 0
    for (let i = 1; i < ys.length; i++) maxGap = Math.max(maxGap, ys[i]! - ys[i - 1]!)
    t.ok(ys.some((at) => at > tRestart + 1000), 'kept target of the restarted shard goes on answering')
    t.ok(maxGap < 2 * interval - 10, `kept target missed no round across the restart (largest gap ${maxGap} ms, period ${interval})`)

    // add Z: it goes to the shard with room (B); A keeps its process
    const Z = '127.0.1.250'
    p.setTargets([...kept, Z])
    t.ok(await becomes(() => c.of(Z).some((r) => r.alive), 10_000), 'the added target answers')
    t.ok(await becomes(() => fpingChildren().length === 2, 10_000), 'two processes (the replaced one is gone)')
    kids = fpingChildren()
    t.ok(kids.some((k) => k.pid === a2?.pid), 'the shard without additions kept its pid')
    t.ok(kids.some((k) => k.pid !== a2?.pid && k.pid !== shardB.pid && k.targets.includes(Z) && k.targets.length === 21), 'the shard with room took it')

    // the same set again changes nothing
    const pids = kids.map((k) => k.pid).sort()
    p.setTargets([Z, ...kept].reverse())
    await sleep(500)
    t.same(fpingChildren().map((k) => k.pid).sort(), pids, 'an identical target set restarts nothing')
  })

  t.test('a killed fping is restarted and results resume', async (t) => {
    const c = collector()
    const tl = testLog()
    const p = createPinger({ intervalMs: 200, timeoutMs: 200, log: tl.log, onResult: c.onResult })
    t.teardown(async () => await p.close())
    const a = '127.0.2.1'
    p.setTargets([a, '127.0.2.2', '127.0.2.3'])
    t.ok(await becomes(() => c.of(a).length >= 2, 10_000), 'answers')
    for (let round = 1; round <= 2; round++) {
      const [kid] = fpingChildren()
      if (kid === undefined) { t.fail('no fping child'); return }
      process.kill(kid.pid, 'SIGKILL')
      const tKill = Date.now()
      t.ok(await becomes(() => fpingChildren().some((k) => k.pid !== kid.pid), 10_000), `kill ${round}: a new fping process runs`)
      t.ok(await becomes(() => c.of(a).filter((r) => r.at > tKill + 100 && r.alive).length >= 3, 10_000), `kill ${round}: results resume`)
    }
    const warns = tl.text('warn').filter((l) => l.includes('exited with signal SIGKILL'))
    t.equal(warns.length, 1, 'logged once per failure streak, not per restart')
    t.equal(p.error, null, 'a single crash is not an availability problem')
    t.equal(fpingChildren().length, 1, 'one process, no leftovers')
  })

  t.test('invalid targets are dropped, never passed to fping', async (t) => {
    const c = collector()
    const tl = testLog()
    const p = createPinger({ intervalMs: 200, timeoutMs: 200, log: tl.log, onResult: c.onResult })
    t.teardown(async () => await p.close())
    p.setTargets(['-h', 'foo', '', '--help', ' 127.0.0.5', '1.2.3.4.5', '127.0.0.5', 'localhost', '-f/etc/passwd'])
    t.ok(await becomes(() => c.of('127.0.0.5').length >= 2, 10_000), 'the valid target answers')
    const kids = fpingChildren()
    t.equal(kids.length, 1)
    t.same(kids[0]?.targets, ['127.0.0.5'], 'only the IP literal reaches fping')
    t.same([...new Set(c.results.map((r) => r.address))], ['127.0.0.5'], 'results only for it')
    t.ok(tl.text('warn').some((l) => l.includes('"-h"') && l.includes('"foo"') && l.includes('not IP literals')), 'the dropped ones are logged')
    p.setTargets(['-h'])
    t.ok(await becomes(() => fpingChildren().length === 0, 10_000), 'a set of only invalid targets runs nothing')
  })

  t.test('a down host (network namespaces + veth): alive, link down → not alive, up → alive; unroutable → losses', { skip: netnsSkipReason() }, async (t) => {
    let hosts: TestHosts
    try {
      hosts = await createTestHosts(t)
    } catch (err) {
      t.plan(0, `skipped: cannot create network namespaces: ${(err as Error).message.trim()}`)
      return
    }
    const { ip, proberNs: nsA, hostAddress: addrB, fpingWrapper: wrapper } = hosts

    const c = collector()
    const tl = testLog()
    const p = createPinger({ intervalMs: 200, timeoutMs: 200, fpingPath: wrapper, log: tl.log, onResult: c.onResult })
    t.teardown(async () => await p.close()) // runs before the namespace cleanup (LIFO)
    p.setTargets([addrB])
    const since = (ts: number) => c.of(addrB).filter((r) => r.at > ts)
    const lastN = (n: number, alive: boolean) => (): boolean => {
      const rs = c.of(addrB)
      return rs.length >= n && rs.slice(-n).every((r) => r.alive === alive)
    }
    t.ok(await becomes(lastN(3, true), 10_000), 'reachable host: alive')
    t.ok(c.of(addrB).filter((r) => r.alive).every((r) => typeof r.rttMs === 'number'), 'with an RTT')

    await hosts.linkDown()
    let ts = Date.now()
    t.ok(await becomes(lastN(3, false), 10_000), 'link down: not alive (fping "timed out")')
    t.ok(since(ts).filter((r) => !r.alive).every((r) => r.rttMs === undefined), 'losses carry no RTT')
    ts = Date.now()
    await sleep(1500)
    const down = since(ts)
    t.ok(down.length >= 4 && down.length <= 10 && down.every((r) => !r.alive), `one loss per interval while down (${down.length} in 1500 ms)`)

    await hosts.linkUp()
    t.ok(await becomes(lastN(3, true), 10_000), 'link up: alive again')

    // a local send error (prohibit route): fping prints nothing for these echoes; the pinger
    // must still report each one as lost
    await run(ip, ['-n', nsA, 'route', 'add', 'prohibit', `${addrB}/32`])
    ts = Date.now()
    t.ok(await becomes(lastN(3, false), 10_000), 'unroutable (send error, no fping line): reported lost')
    await sleep(2000)
    const rs = since(ts + 2500)
    const window = Date.now() - (ts + 2500)
    t.ok(rs.length >= (window / 200) * 0.5 && rs.length <= (window / 200) * 1.25 + 1,
      `about one loss per interval (${rs.length} in ${window} ms)`)
    await run(ip, ['-n', nsA, 'route', 'del', 'prohibit', `${addrB}/32`])
    t.ok(await becomes(lastN(3, true), 10_000), 'route back: alive again')
    t.equal(p.error, null, 'no availability problem throughout')
  })

  t.test('an fping built with safe limits (refuses -i < 1): falls back to -i 1', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fping-test-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    // behaves like fping configured with --enable-safe-limits, run by a non-root user
    const wrapper = join(dir, 'fping')
    writeFileSync(wrapper, `#!/bin/sh
prev=
for a in "$@"; do
  if [ "$prev" = "-i" ]; then
    case "$a" in 0|0.*) echo "fping: these options are too risky for mere mortals." >&2; echo "fping: You need -i >= 1 and -p >= 10" >&2; exit 1;; esac
  fi
  prev=$a
done
exec ${FPING ?? 'fping'} "$@"
`, { mode: 0o755 })
    const c = collector()
    const tl = testLog()
    const avail: Array<string | null> = []
    const p = createPinger({ intervalMs: 200, timeoutMs: 200, fpingPath: wrapper, log: tl.log, onResult: c.onResult, onAvailability: (e) => avail.push(e) })
    t.teardown(async () => await p.close())
    const targets = ['127.0.0.8', '127.0.0.9']
    p.setTargets(targets)
    t.ok(await becomes(() => targets.every((a) => c.of(a).filter((r) => r.alive).length >= 2), 10_000), 'results')
    const kids = fpingChildren()
    t.equal(kids.length, 1)
    const argv = kids[0]?.argv ?? []
    t.equal(argv[argv.indexOf('-i') + 1], '1', 'runs with -i 1')
    t.equal(tl.text('warn').filter((l) => l.includes('safe-limits')).length, 1, 'explained once in the log')
    t.same(avail, [], 'not an availability problem')
  })

  const setpriv = which('setpriv')
  t.test('fping without CAP_NET_RAW: a clear availability error', {
    skip: setpriv === null ? 'setpriv not found (Debian package util-linux)' : process.getuid?.() !== 0 ? 'needs root to drop a capability' : false
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fping-test-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    // a copy loses the file capability; setpriv takes CAP_NET_RAW away from root too
    const copy = join(dir, 'fping-nocap')
    writeFileSync(copy, readFileSync(FPING ?? '/usr/bin/fping'), { mode: 0o755 })
    const wrapper = join(dir, 'fping')
    writeFileSync(wrapper, `#!/bin/sh\nexec ${setpriv ?? 'setpriv'} --bounding-set=-net_raw ${copy} "$@"\n`, { mode: 0o755 })
    const c = collector()
    const tl = testLog()
    const avail: Array<string | null> = []
    const p = createPinger({ intervalMs: 200, timeoutMs: 200, fpingPath: wrapper, log: tl.log, onResult: c.onResult, onAvailability: (e) => avail.push(e) })
    t.teardown(async () => await p.close())
    p.setTargets(['127.0.0.10'])
    t.ok(await becomes(() => avail.length > 0, 10_000), 'reported')
    t.match(avail[0], /exited with code 4: .*can't create socket.*CAP_NET_RAW/, 'with fping\'s reason and a hint')
    t.equal(p.error, avail[0])
    await sleep(1000)
    t.equal(avail.length, 1, 'once, although it keeps retrying')
    t.equal(c.results.length, 0, 'no invented results')
  })

  t.test('fping found later: the pinger recovers', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fping-test-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'fping')
    const c = collector()
    const tl = testLog()
    const avail: Array<string | null> = []
    const p = createPinger({ intervalMs: 200, timeoutMs: 200, fpingPath: path, log: tl.log, onResult: c.onResult, onAvailability: (e) => avail.push(e) })
    t.teardown(async () => await p.close())
    p.setTargets(['127.0.0.6'])
    t.ok(await becomes(() => avail.length > 0, 10_000), 'reported missing')
    t.match(avail[0], /fping not found/)
    symlinkSync(FPING ?? '/usr/bin/fping', path)
    t.ok(await becomes(() => c.of('127.0.0.6').length > 0, 15_000), 'results once fping exists (slow retry)')
    t.same(avail, [avail[0], null], 'onAvailability(null) once it works')
    t.equal(p.error, null)
  })
})

/** A fake fping that writes down every start (its pid and targets) and then waits quietly; `started()` lists them. */
function recordingFping (t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'fping-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const starts = join(dir, 'starts')
  writeFileSync(starts, '')
  const path = join(dir, 'fping')
  writeFileSync(path, `#!/bin/sh
[ "$1" = "-v" ] && { echo "fping: Version 5.1"; exit 0; }
shift 7
echo "$$ $*" >> '${starts}'
exec sleep 60
`, { mode: 0o755 })
  const started = (): Array<{ pid: number, targets: string[] }> => readFileSync(starts, 'utf8').split('\n').filter((l) => l !== '')
    .map((l) => { const [pid, , ...targets] = l.split(' '); return { pid: Number(pid), targets } })
  return { path, started }
}

t.test('a burst of target changes costs one restart; a change undone within it costs none', async (t) => {
  const { path: fake, started } = recordingFping(t)
  const p = createPinger({ intervalMs: 200, timeoutMs: 200, fpingPath: fake, log: testLog().log, onResult: () => {} })
  t.teardown(async () => await p.close())
  const tick = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

  const targets = ['127.0.0.1']
  p.setTargets(targets)
  t.ok(await waitFor(() => started().length === 1, 10_000), 'the first process')
  for (let i = 2; i <= 11; i++) { // ten changes, each in its own tick (the monitor sends one per tick)
    targets.push(`127.0.0.${i}`)
    p.setTargets(targets)
    await tick()
  }
  t.ok(await waitFor(() => started().length >= 2, 10_000), 'the burst restarted the shard')
  await sleep(1500)
  t.equal(started().length, 2, 'once for ten changes')
  t.same(started()[1]?.targets, targets, 'with the final target list')

  p.setTargets([...targets, '127.0.0.99'])
  await tick()
  p.setTargets(targets)
  await sleep(1500)
  t.equal(started().length, 2, 'a target added and removed again within the burst restarts nothing')
})

t.test('changeTargets: only the shards a change touches restart', async (t) => {
  const { path: fake, started } = recordingFping(t)
  const tl = testLog()
  const p = createPinger({ intervalMs: 200, timeoutMs: 200, fpingPath: fake, log: tl.log, onResult: () => {}, maxTargetsPerProcess: 3 })
  t.teardown(async () => await p.close())
  const targetsOf = (n: number) => [...started()[n]?.targets ?? []].sort()

  p.changeTargets(['127.0.3.1', '127.0.3.2', '127.0.3.3', '127.0.3.4', '-h', 'localhost'], [])
  t.ok(await waitFor(() => started().length === 2, 10_000), 'two shards start')
  t.same([targetsOf(0), targetsOf(1)].sort((a, b) => b.length - a.length), [['127.0.3.1', '127.0.3.2', '127.0.3.3'], ['127.0.3.4']], 'three and one target, only the IP literals')
  t.ok(tl.text('warn').some((l) => l.includes('"-h"') && l.includes('"localhost"') && l.includes('not IP literals')), 'the dropped ones are logged')

  p.changeTargets(['127.0.3.5'], [])
  t.ok(await waitFor(() => started().length === 3, 10_000), 'an added target restarts one shard')
  t.same(targetsOf(2), ['127.0.3.4', '127.0.3.5'], 'the one with room, with its targets and the new one')

  p.changeTargets([], ['127.0.3.2'])
  t.ok(await waitFor(() => started().length === 4, 10_000), 'a removed target restarts its shard')
  t.same(targetsOf(3), ['127.0.3.1', '127.0.3.3'], 'without it')

  p.changeTargets(['127.0.3.1', '127.0.3.5'], ['127.0.9.9'])
  await sleep(1000)
  t.equal(started().length, 4, 'adding targets already probed and removing unknown ones restarts nothing')

  p.changeTargets([], ['127.0.3.4', '127.0.3.5'])
  t.ok(await becomes(() => !isAlive(started()[2]!.pid), 10_000), 'a shard left empty stops')
  t.ok(isAlive(started()[3]!.pid), 'the other one runs on')
  t.equal(started().length, 4, 'and nothing restarts')
})

t.test('changeTargets costs the change, not the whole set: 50,000 targets, 2,000 changes', async (t) => {
  // No process starts: the changes are made within one tick, before any coalesced restart is due.
  const p = createPinger({ intervalMs: 1000, timeoutMs: 1000, fpingPath: '/nonexistent/fping', log: testLog().log, onResult: () => {} })
  t.teardown(async () => await p.close())
  const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
  p.setTargets(Array.from({ length: 50_000 }, (_, i) => address(i)))
  const began = performance.now()
  for (let i = 0; i < 1000; i++) {
    p.changeTargets([address(50_000 + i)], [])
    p.changeTargets([], [address(i)])
  }
  const ms = performance.now() - began
  // setTargets with the whole set costs ~20 ms per change at this size (40 s in all); these take well under 1 ms each, even loaded.
  t.ok(ms < 10_000, `2,000 changes took ${ms.toFixed(0)} ms`)
})

t.test('missing fping binary', async (t) => {
  const c = collector()
  const tl = testLog()
  const avail: Array<string | null> = []
  const p = createPinger({
    intervalMs: 200, timeoutMs: 200, fpingPath: '/nonexistent/fping', log: tl.log, onResult: c.onResult, onAvailability: (e) => avail.push(e)
  })
  t.ok(await becomes(() => avail.length > 0, 10_000), 'reported even before there are targets')
  p.setTargets(['127.0.0.7'])
  await sleep(1000)
  t.equal(avail.length, 1, 'reported once')
  t.match(avail[0], /^fping not found: .*\/nonexistent\/fping.*install the Debian package fping/, 'with a clear message')
  t.equal(p.error, avail[0], 'error reflects it')
  t.equal(tl.text('error').length, 1, 'logged once as an error')
  t.equal(c.results.length, 0, 'no results (no invented losses)')
  t.same(fpingChildren(), [], 'nothing runs')
  const closing = p.close()
  t.ok(await Promise.race([closing.then(() => true), sleep(3000).then(() => false)]), 'close() resolves')
})
