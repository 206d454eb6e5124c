/** LUNs over ONTAP's REST API (ONTAP 9.6+): `GET /api/storage/luns`, following `next` links on the same filer. */
import { httpStatusError, MAX_PAGES, NetappError, PAGE_SIZE, reason, send, toBytes, type Ctx, type LunRecord } from './http.ts'

const REST_FIELDS = 'name,svm.name,space.size,space.used'
/** LUN paths made only of these characters can be sent as a server-side `name=` filter. */
const SAFE_PATH_CHARS = new Set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-.')

export async function fetchRest (ctx: Ctx, wantedPaths: string[]): Promise<LunRecord[]> {
  const params = new URLSearchParams({ fields: REST_FIELDS, max_records: String(PAGE_SIZE) })
  // Server-side filter (`name=/vol/a/l1|/vol/b/l2`) when every path is plain, so a filer
  // with thousands of LUNs sends only ours; matching is still done here.
  if (wantedPaths.every(p => [...p].every(c => SAFE_PATH_CHARS.has(c)))) params.set('name', wantedPaths.join('|'))
  let path: string | undefined = `/api/storage/luns?${params.toString()}`
  const seen = new Set<string>()
  const out: LunRecord[] = []
  for (let page = 0; path !== undefined; page++) {
    if (page >= MAX_PAGES) throw new NetappError(`NetApp REST API at ${ctx.where}: more than ${MAX_PAGES} pages of LUNs; giving up`)
    if (seen.has(path)) throw new NetappError(`NetApp REST API at ${ctx.where}: pagination loop (next link ${path} repeated)`)
    seen.add(path)
    const res = await send(ctx, 'REST API', path, { method: 'GET', headers: { accept: 'application/json' } })
    if (res.status !== 200) throw httpStatusError(ctx, 'REST API', res)
    let doc: { records?: unknown, _links?: { next?: { href?: unknown } } }
    try {
      doc = JSON.parse(res.text)
    } catch {
      throw new NetappError(`NetApp REST API at ${ctx.where}: response is not JSON (${reason(ctx, res.text)})`)
    }
    if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.records)) {
      throw new NetappError(`NetApp REST API at ${ctx.where}: unexpected response (no records array)`)
    }
    for (const r of doc.records as Array<Record<string, unknown>>) {
      if (r === null || typeof r !== 'object' || typeof r.name !== 'string' || !ctx.wanted.has(r.name)) continue
      const space = (r.space ?? {}) as Record<string, unknown>
      const svm = (r.svm ?? {}) as Record<string, unknown>
      out.push({
        path: r.name,
        svm: typeof svm.name === 'string' ? svm.name : undefined,
        size: toBytes(space.size),
        used: toBytes(space.used)
      })
    }
    const href = doc._links?.next?.href
    path = typeof href === 'string' && href !== '' ? sameOriginPath(ctx, href) : undefined
  }
  return out
}

/** A `next` link as a path on the same filer; never follow (and send credentials) elsewhere. */
function sameOriginPath (ctx: Ctx, href: string): string {
  let url: URL
  try {
    url = new URL(href, ctx.origin)
  } catch {
    throw new NetappError(`NetApp REST API at ${ctx.where}: invalid next link ${reason(ctx, href)}`)
  }
  if (url.origin !== new URL(ctx.origin).origin || !url.pathname.startsWith('/api/')) {
    throw new NetappError(`NetApp REST API at ${ctx.where}: next link points elsewhere (${reason(ctx, href)}); not followed`)
  }
  return url.pathname + url.search
}
