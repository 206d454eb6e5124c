// lib/write-batches.ts: the writes of one turn of the event loop in a few transactions, each
// caller resolving only after its own commit (the outbox's alerts, history's transitions).
import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { createWriteBatches } from '../lib/write-batches.ts'

/** A write function that records its transactions, failing a transaction that holds `bad`. */
function recorder (bad?: number) {
  const committed: number[][] = []
  const write = (items: number[]) => {
    if (items.includes(bad!)) throw new Error(`cannot write ${bad}`)
    committed.push(items)
  }
  return { committed, write }
}

t.test('the writes of one turn go into transactions of at most maxItems, in order; each resolves after its commit', async t => {
  const { committed, write } = recorder()
  const batches = createWriteBatches(write, 100)
  const resolved: number[] = []
  const done = Array.from({ length: 250 }, (_, i) => batches.add(i).then(() => { resolved.push(i) }))
  t.same(committed, [], 'nothing is written while the turn goes on')
  await nextTurn()
  t.same(committed.map(items => items.length), [100], 'one transaction per turn')
  await Promise.resolve()
  t.same(resolved, Array.from({ length: 100 }, (_, i) => i), 'its callers resolved, the others not yet')
  await Promise.all(done)
  t.same(committed.map(items => items.length), [100, 100, 50])
  t.same(committed.flat(), Array.from({ length: 250 }, (_, i) => i), 'in the order they were added')
  await batches.add(250)
  t.same(committed.at(-1), [250], 'a later write is a transaction of its own')
})

t.test('a transaction that fails is written item by item: only the bad item fails', async t => {
  const { committed, write } = recorder(3)
  const batches = createWriteBatches(write)
  const outcomes = await Promise.allSettled([1, 2, 3, 4].map(item => batches.add(item)))
  t.same(outcomes.map(outcome => outcome.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
  t.match((outcomes[2] as PromiseRejectedResult).reason, { message: 'cannot write 3' })
  t.same(committed, [[1], [2], [4]])
})

t.test('flush writes what waits at once (before a read, a delete or a close)', async t => {
  const { committed, write } = recorder()
  const batches = createWriteBatches(write, 2)
  const done = [1, 2, 3].map(item => batches.add(item))
  batches.flush()
  t.same(committed, [[1, 2], [3]])
  await Promise.all(done)
  await nextTurn()
  t.same(committed, [[1, 2], [3]], 'and not again')
})
