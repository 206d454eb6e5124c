// The REFERENCE for bench/sse.ts: the least an SSE broadcaster can do with node:http.
// `GET /api/events` gets the same headers and `connected` frame as the real route; each
// `POST /api/config/servers` (`DELETE /api/config/servers/:id`) builds a `serverAdded`
// (`serverRemoved`) frame of the same shape and size as the real one, writes the server
// list to a temp file, fsyncs it and renames it over the data file (as the real store does
// per change), serializes the frame once, writes that one string to every socket, then
// answers. No validation, no replay ring, no back-pressure check, no monitor.
// Env: HOST, PORT, DATA_FILE (default: a file in the OS temp dir).
import { createServer, type ServerResponse } from 'node:http'
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 0)

const CONNECTED = `data: ${JSON.stringify({ type: 'connected', message: 'Connected to server status stream' })}\n\n`
const clients = new Set<ServerResponse>()
let lastId = Date.now() * 1000
let nextServerId = 1
const dataFile = process.env.DATA_FILE ?? join(tmpdir(), `estatus-sse-reference-${process.pid}.json`)
const stored = new Map<string, Record<string, unknown>>()

function save () {
  const temp = `${dataFile}.tmp`
  const fd = openSync(temp, 'w')
  try {
    writeSync(fd, JSON.stringify({ servers: [...stored.values()] }))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, dataFile)
}

function broadcast (message: unknown) {
  lastId++
  const frame = `id: ${lastId}\ndata: ${JSON.stringify(message)}\n\n`
  for (const client of clients) client.write(frame)
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/events') {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    res.write(CONNECTED)
    clients.add(res)
    res.once('close', () => { clients.delete(res) })
    return
  }
  if (req.method === 'POST' && req.url === '/api/config/servers') {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      let body: { name?: unknown, ip?: unknown, dnsAddress?: unknown }
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"success":false,"error":"bad JSON"}')
        return
      }
      const server = {
        id: `server-${String(nextServerId++).padStart(3, '0')}`,
        name: body.name,
        ip: body.ip,
        dnsAddress: body.dnsAddress,
        dns: body.dnsAddress
      }
      stored.set(server.id, server)
      save()
      broadcast({ type: 'serverAdded', server })
      const answer = JSON.stringify({ success: true, data: server })
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) })
      res.end(answer)
    })
    return
  }
  const removed = req.method === 'DELETE' && /^\/api\/config\/servers\/([^/]+)$/.exec(req.url ?? '')
  if (removed) {
    const id = decodeURIComponent(removed[1] as string)
    const server = stored.get(id)
    if (server === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"success":false,"error":"Server not found"}')
      return
    }
    stored.delete(id)
    save()
    broadcast({ type: 'serverRemoved', serverId: id })
    const answer = JSON.stringify({ success: true, data: server })
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) })
    res.end(answer)
    return
  }
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
    return
  }
  res.writeHead(404, { 'content-type': 'application/json' }).end('{"success":false,"error":"Route not found"}')
})

function shutdown () {
  for (const client of clients) client.end()
  clients.clear()
  rmSync(dataFile, { force: true })
  rmSync(`${dataFile}.tmp`, { force: true })
  server.close(() => process.exit(0))
  server.closeAllConnections()
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

server.listen(port, host)
