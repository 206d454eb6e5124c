// What a TypeScript host sees of the plugin: one decorator, `estatus`, whose events it can
// only listen to. The plugin's parts live in its encapsulated scope, so their names must
// not type-check on the host's instance (they would crash at run time).
import { expect, test } from 'tstyche'
import Fastify, { type FastifyInstance } from 'fastify'
import estatus, { type AlertRule, type Channel, type EstatusApi, type EstatusEvent, type EstatusOptions, type MaintenanceWindow, type Mutation, type ServerStatus } from '../../app.ts'

const app = Fastify()
await app.register(estatus, { dataFile: 'data/estatus.json', monitor: false, prefix: '/status' })

test('the host sees estatus', () => {
  expect(app.estatus).type.toBe<EstatusApi>()
  expect(app.estatus.monitor.statuses()).type.toBe<ServerStatus[]>()
  expect(app.estatus.events.subscribe((event: EstatusEvent) => event.type)).type.toBe<() => void>()
  expect(app.estatus.events.clientCount).type.toBe<number>()
})

test('and none of the parts inside its scope', () => {
  expect(app).type.not.toHaveProperty('configStore')
  expect(app).type.not.toHaveProperty('eventBus')
  expect(app).type.not.toHaveProperty('monitor')
  expect(app).type.not.toHaveProperty('eventStreams')
  expect(app).type.not.toHaveProperty('sseHub')
  expect(app.configStore).type.toRaiseError("Property 'configStore' does not exist")
  expect<FastifyInstance>().type.not.toHaveProperty('eventBus')
})

test('a host cannot publish', () => {
  expect(app.estatus.events).type.not.toHaveProperty('publish')
  expect(app.estatus.events.publish).type.toRaiseError("Property 'publish' does not exist")
})

test('the decorator cannot be replaced', () => {
  const { store } = app.estatus
  expect(() => { app.estatus.store = store }).type.toRaiseError('read-only')
})

test('the alert configuration is typed per list', () => {
  const { store } = app.estatus
  expect(store.channels()).type.toBe<readonly Channel[]>()
  expect(store.collection('channels').list()).type.toBe<readonly Channel[]>()
  expect(store.collection('alertRules').get('rule-1')).type.toBe<AlertRule | undefined>()
  expect(store.collection('maintenance').create({})).type.toBe<Promise<Mutation<MaintenanceWindow>>>()
  expect(store.collection).type.not.toBeCallableWith('servers')
})

test('options are typed from the schema', () => {
  expect<EstatusOptions>().type.toBeAssignableFrom({ pingIntervalMs: 1000, threshold: 3, corsOrigin: '*' as const })
  expect<EstatusOptions>().type.toBeAssignableFrom({})
  expect<EstatusOptions>().type.not.toBeAssignableFrom({ pingIntervalMs: '1000' })
  expect<EstatusOptions>().type.not.toBeAssignableFrom({ monitor: 'off' })
  expect(app.register).type.not.toBeCallableWith(estatus, { threshold: 'four' })
})
