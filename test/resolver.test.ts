// The probe targets' resolver (plugins/monitor/resolver.ts): lookups are cached and bounded,
// so 50,000 names never occupy libuv's thread pool, which the store's file writes share.
import t from 'tap'
import { createResolver } from '../plugins/monitor/resolver.ts'

/** A lookup that answers when told to, and counts how many are in flight. */
function controlledLookup () {
  const pending: Array<{ name: string, answer (): void }> = []
  const state = { inFlight: 0, most: 0, calls: [] as string[] }
  const lookup = (name: string) => new Promise<{ address: string }>((resolve, reject) => {
    state.calls.push(name)
    state.inFlight++
    state.most = Math.max(state.most, state.inFlight)
    pending.push({
      name,
      answer () {
        state.inFlight--
        if (name.startsWith('bad')) reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }))
        else resolve({ address: `10.0.0.${state.calls.indexOf(name) + 1}` })
      }
    })
  })
  /** Answers every lookup in flight, and lets the freed slots start the next ones. */
  const answerAll = async () => { for (const { answer } of pending.splice(0)) answer(); await new Promise(resolve => setImmediate(resolve)) }
  return { lookup, state, answerAll, pending }
}

t.test('at most `concurrency` lookups run at once; every name still gets its answer', async t => {
  const { lookup, state, answerAll, pending } = controlledLookup()
  const resolver = createResolver({ concurrency: 3, lookup })
  const names = Array.from({ length: 20 }, (_, i) => (i === 5 ? 'bad-host' : `host-${i}.example`))
  const results = Promise.all(names.map(name => resolver.resolve(name)))
  await new Promise(resolve => setImmediate(resolve))
  t.equal(pending.length, 3, 'three started, the others wait')
  while (pending.length > 0) await answerAll()
  const answers = await results
  t.equal(state.most, 3, 'never more than three in flight')
  t.equal(state.calls.length, 20, 'each name looked up once')
  t.same(answers[5], { error: 'cannot resolve bad-host: ENOTFOUND' }, 'a failure is an answer too, and frees its slot')
  t.ok(answers.every((answer, i) => i === 5 || 'address' in answer), 'the others resolved')
})

t.test('a name asked for again shares the lookup; addresses need none', async t => {
  const { lookup, state, answerAll } = controlledLookup()
  const resolver = createResolver({ concurrency: 1, lookup })
  const first = resolver.resolve('db.example')
  const second = resolver.resolve('db.example')
  t.same(await resolver.resolve('192.0.2.7'), { address: '192.0.2.7' })
  await answerAll()
  t.same(await first, await second)
  t.same(state.calls, ['db.example'])
})
