/** LUNs over ZAPI (legacy, retired from ONTAP 9.13.1 on): `lun-get-iter`, following `next-tag`. */
import { XMLBuilder, XMLParser } from 'fast-xml-parser'
import { httpStatusError, MAX_PAGES, NetappError, PAGE_SIZE, reason, send, toBytes, type Ctx, type LunRecord } from './http.ts'

const ZAPI_PATH = '/servlets/netapp.servlets.admin.XMLrequest_filer'

const zapiBuilder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: true })
const zapiParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (_name, jpath) => jpath === 'netapp.results.attributes-list.lun-info'
})

function zapiRequest (tag: string | undefined): string {
  const iter: Record<string, unknown> = {
    'max-records': PAGE_SIZE,
    'desired-attributes': { 'lun-info': { path: '', size: '', 'size-used': '', vserver: '' } }
  }
  if (tag !== undefined) iter.tag = tag
  return '<?xml version="1.0" encoding="UTF-8"?>' + zapiBuilder.build({
    netapp: { '@_version': '1.21', '@_xmlns': 'http://www.netapp.com/filer/admin', 'lun-get-iter': iter }
  }) as string
}

function text (v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'number') return String(v)
  if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)['#text'] === 'string') return (v as Record<string, string>)['#text']
  return undefined
}

export async function fetchZapi (ctx: Ctx): Promise<LunRecord[]> {
  const out: LunRecord[] = []
  const seen = new Set<string>()
  let tag: string | undefined
  for (let page = 0; ; page++) {
    if (page >= MAX_PAGES) throw new NetappError(`NetApp ZAPI at ${ctx.where}: more than ${MAX_PAGES} pages of LUNs; giving up`)
    const res = await send(ctx, 'ZAPI', ZAPI_PATH, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', accept: 'text/xml' },
      body: zapiRequest(tag)
    })
    if (res.status !== 200) throw httpStatusError(ctx, 'ZAPI', res)
    let doc: Record<string, unknown>
    try {
      doc = zapiParser.parse(res.text) as Record<string, unknown>
    } catch (err) {
      throw new NetappError(`NetApp ZAPI at ${ctx.where}: response is not valid XML (${(err as Error).message})`)
    }
    const netapp = doc.netapp as Record<string, unknown> | undefined
    const results = (netapp !== null && typeof netapp === 'object') ? netapp.results as Record<string, unknown> | undefined : undefined
    if (results === undefined || results === null || typeof results !== 'object') {
      throw new NetappError(`NetApp ZAPI at ${ctx.where}: unexpected response (no <results>): ${reason(ctx, res.text)}`)
    }
    const status = results['@_status']
    if (status !== 'passed') {
      const why = typeof results['@_reason'] === 'string' ? reason(ctx, results['@_reason']) : 'no reason given'
      const errno = typeof results['@_errno'] === 'string' ? ` (errno ${reason(ctx, results['@_errno'])})` : ''
      throw new NetappError(`NetApp ZAPI lun-get-iter ${status === 'failed' ? 'failed' : `returned status "${reason(ctx, String(status))}"`} at ${ctx.where}: ${why}${errno}`)
    }
    const list = results['attributes-list'] as Record<string, unknown> | undefined
    const infos = (list !== null && typeof list === 'object' && Array.isArray(list['lun-info'])) ? list['lun-info'] as Array<Record<string, unknown>> : []
    for (const info of infos) {
      const path = text(info?.path)
      if (path === undefined || !ctx.wanted.has(path)) continue
      out.push({ path, svm: text(info.vserver), size: toBytes(text(info.size)), used: toBytes(text(info['size-used'])) })
    }
    const next = text(results['next-tag'])
    if (next === undefined || next === '') return out
    if (seen.has(next)) throw new NetappError(`NetApp ZAPI at ${ctx.where}: pagination loop (next-tag repeated)`)
    seen.add(next)
    tag = next
  }
}
