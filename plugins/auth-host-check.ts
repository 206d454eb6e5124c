import fp from 'fastify-plugin'
import { hostname, networkInterfaces } from 'node:os'
import { isLoopback, refuse, type AccessControl } from './auth.ts'

export interface HostCheckOptions {
  /** More accepted `Host` names (ESTATUS_ALLOWED_HOSTS). */
  allowedHosts?: string[]
}

/** How long the machine's own names and addresses are trusted before a miss reads them again. */
const OWN_NAMES_TTL_MS = 5000

/** The name part of a Host header (no port, no IPv6 brackets), lower case; null when it is not one. */
export function hostName (header: string): string | null {
  try {
    return new URL(`http://${header}`).hostname.replace(/^\[|\]$/g, '').toLowerCase()
  } catch {
    return null
  }
}

function ownNames (): Set<string> {
  const names = new Set([hostname().toLowerCase()])
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) names.add(address.address.toLowerCase())
  }
  return names
}

/**
 * The DNS-rebinding guard of SPEC §11: while access control is off, a request must name this
 * machine in its `Host` (loopback, one of its addresses or its host name, or an allowed
 * host). A page on another site that rebinds its name to us sends its own name and is refused.
 */
export default fp<HostCheckOptions>(async function hostCheck (fastify, options) {
  const access = fastify.getDecorator<AccessControl>('accessControl')
  const allowed = new Set((options.allowedHosts ?? []).map(host => hostName(host) ?? host.toLowerCase()))
  let own = ownNames()
  let ownReadAt = Date.now()

  function isOwn (name: string): boolean {
    if (own.has(name)) return true
    // An address or name added since: read them again, at most every few seconds.
    if (Date.now() - ownReadAt < OWN_NAMES_TTL_MS) return false
    own = ownNames()
    ownReadAt = Date.now()
    return own.has(name)
  }

  fastify.addHook('onRequest', async (request, reply) => {
    const header = request.headers.host
    // Browsers always send Host; a client without one is no rebinding page.
    if (header === undefined || access.mode() !== 'off') return
    const name = hostName(header)
    if (name !== null && (isLoopback(name) || allowed.has(name) || isOwn(name))) return
    return refuse(request, reply, 403, `Host '${name ?? header}' is not allowed while access control is off: add it to ESTATUS_ALLOWED_HOSTS or create an access token`)
  })
}, { name: 'estatus-host-check', fastify: '5.x', dependencies: ['estatus-auth'] })
