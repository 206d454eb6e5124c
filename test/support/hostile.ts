// Seeded hostile JSON bodies for the config API, shared by the fuzz pass
// (test/hardening.test.ts) and `npm run bench:hostile`. Every body is invalid by
// construction for every mutating route, so none may change stored data: it is deep, wide,
// has a huge array, odd unicode where only ASCII is allowed, numbers out of every range,
// prototype keys, is not an object, or is not JSON at all.
import { prng } from './prng.ts'

export interface HostileBody {
  kind: string
  text: string
}

type Random = () => number

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!
const server = { name: 'web-1', ip: '10.1.2.3', dnsAddress: '127.0.0.2' }
/** A valid server's JSON text with `extra` (raw JSON members) spliced in. */
const serverWith = (extra: string) => JSON.stringify(server).slice(0, -1) + ',' + extra + '}'

const ODD_TEXT = [
  '\u0000', '\ud800', '\udfff', '\u202e', '\u200d', '\ufeff', '\u2028', '\uffff', '１２７.０.０.１', '😀'.repeat(40), 'e\u0301', 'ǅ', 'İ', 'ß'.repeat(60)
]
const HUGE_NUMBERS = [
  '1e308', '-1e308', '1e400', '-1e400', '1e-400', '-0', '9007199254740993', '123456789012345678901234567890', '0.1', '2147483648', `1${'0'.repeat(5000)}`
]
const PROTOTYPE_KEYS = [
  '"__proto__":{"isAdmin":true}', '"\\u005f_proto__":{"x":1}', '"constructor":{"prototype":{"x":1}}', '"constructor":1', '"prototype":{}', '"toString":"x"', '"hasOwnProperty":1', '"__defineGetter__":0', '"valueOf":{}'
]

function nested (random: Random, depth: number): string {
  const object = random() < 0.5
  return (object ? '{"a":'.repeat(depth) : '['.repeat(depth)) + '1' + (object ? '}' : ']').repeat(depth)
}

const generators: Record<string, (random: Random) => string> = {
  deep (random) {
    const depth = pick(random, [33, 100, 1000, 10000, 100000])
    return random() < 0.5 ? nested(random, depth) : serverWith(`"x":${nested(random, depth)}`)
  },
  wide (random) {
    const keys = pick(random, [65, 1000, 105000])
    const prefix = pick(random, ['', '', 'é', '\u0000', '__proto__x'])
    const wide = '{' + Array.from({ length: keys }, (_, i) => `${JSON.stringify(prefix + i.toString(36))}:0`).join(',') + '}'
    return pick(random, [wide, serverWith(`"snmp":${wide}`), serverWith(`"netapp":${wide}`)])
  },
  hugeArray (random) {
    const length = pick(random, [17, 1000, 10001, 200000])
    const item = pick(random, ['{}', '{"index":-1}', '"x"', '0', 'null', '[]'])
    const array = '[' + Array(length).fill(item).join(',') + ']'
    const field = pick(random, [
      `"snmp":{"enabled":true,"disks":${array}}`,
      `"snmpConfig":{"enabled":true,"storageIndexes":${array},"diskNames":${array}}`,
      `"netapp":{"enabled":true,"username":"u","password":"p","luns":${array}}`,
      `"serverIds":${array}`
    ])
    return serverWith(field)
  },
  oddUnicode (random) {
    // Inside the text: names and addresses are trimmed, and several of these are white space.
    const odd = `x${pick(random, ODD_TEXT)}${pick(random, ['', 'host', '.lan'])}`
    // Where only ASCII is allowed, or as the name of an unknown field.
    return JSON.stringify({ ...server, [pick(random, ['dnsAddress', 'ip', odd])]: odd })
  },
  hugeNumbers (random) {
    const number = pick(random, HUGE_NUMBERS)
    return serverWith(pick(random, [
      `"consecutiveFailures":${number}`, `"consecutiveSuccesses":${number}`, `"snmp":{"enabled":true,"disks":[{"index":${number}}]}`,
      `"order":${number}`, `"rowNumber":${number}`, `"id":${number}`
    ]))
  },
  prototypeKeys (random) {
    const key = pick(random, PROTOTYPE_KEYS)
    return serverWith(pick(random, [key, `"snmp":{"enabled":true,"disks":[],${key}}`, `"snmp":{"enabled":true,"disks":[{"index":1,${key}}]}`]))
  },
  notAnObject (random) {
    return pick(random, ['[]', `[${JSON.stringify(server)}]`, '"server"', '1e999', 'null', 'true', '-0', '""'])
  },
  malformed (random) {
    const text = serverWith('"snmp":{"enabled":true,"community":"s3cret","disks":[{"index":1}]}')
    return pick(random, [
      text.slice(0, Math.floor(random() * (text.length - 1))),
      text.replace('"name"', '"name":"a","name"'),
      text.replace('s3cret', 's3\\u12x4'),
      text.replace('s3cret', 's3\\q'),
      text + ' {}',
      text.replace(',', ',\ufeff'),
      text.replace('{', '{/* c */'),
      text.replace(/"/g, "'"),
      text.replace('}', ',}'),
      text.replace(':', ' ')
    ])
  }
}

export const HOSTILE_KINDS = Object.keys(generators)

/** An endless, replayable stream of hostile bodies: kinds in turn, details from the seed. */
export function * hostileBodies (seed: number): Generator<HostileBody> {
  const random = prng(seed)
  for (let i = 0; ; i++) {
    const kind = HOSTILE_KINDS[i % HOSTILE_KINDS.length]!
    yield { kind, text: generators[kind]!(random) }
  }
}
