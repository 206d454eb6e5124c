import t from 'tap'
import { redactCredentials, shortReason, MAX_REASON_LENGTH } from '../probes/redact.ts'

const user = 'monitor'
const secret = 'pa ss/+&=w:rd!'

t.test('every form of the secret is removed', async (t) => {
  const forms = [
    secret,
    encodeURIComponent(secret),
    encodeURIComponent(secret).toLowerCase(),
    new URLSearchParams({ p: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(`${user}:${secret}`).toString('base64'),
    Buffer.from(`${user}:${secret}`).toString('base64').replace(/=+$/, ''),
    Buffer.from(`${user}:${secret}`).toString('base64url'),
    Buffer.from(secret).toString('base64')
  ]
  for (const form of forms) {
    const out = redactCredentials(`before ${form} after`, { username: user, secret })
    t.equal(out, 'before ******** after', `removed: ${form}`)
  }
})

t.test('any Basic header value goes, whoever it belongs to; ordinary words stay', async (t) => {
  t.equal(redactCredentials('Authorization: Basic b3RoZXI6dXNlcg== was sent', {}), 'Authorization: Basic ******** was sent')
  t.equal(redactCredentials('WWW-Authenticate: Basic realm="Secure Area"', {}), 'WWW-Authenticate: Basic realm="Secure Area"')
  t.equal(redactCredentials('User is not authorized.', { username: user, secret: 'au' }), 'User is not authorized.', 'a secret too short to search for garbles nothing')
})

t.test('a huge text is scanned up to a bound, without its tail (a secret cut in half)', async (t) => {
  const huge = 'x'.repeat(70_000) + secret
  const out = redactCredentials(huge, { username: user, secret })
  t.ok(out.length < 65_536, 'bounded')
  t.notOk(out.includes(secret.slice(0, 4)), 'no part of the secret')
})

t.test('shortReason collapses whitespace and cuts', async (t) => {
  t.equal(shortReason('  a\n\n b\tc  '), 'a b c')
  const long = shortReason('y'.repeat(1000))
  t.equal(long.length, MAX_REASON_LENGTH)
  t.ok(long.endsWith('…'))
})
