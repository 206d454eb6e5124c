import { watch } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { atomicJsonFile } from './atomic-json-file.ts'
import { HttpError, describeJsonError, notFound } from './errors.ts'
import { checker, createAjv } from './validation.ts'
import { TokensDocument, TokenInput, type StoredToken, type TokenInfo, type Role } from '../schemas/auth.ts'

/** Where the tokens live when no file is named: beside the data file, outside the config document. */
export const defaultTokensFile = (dataFile: string) => join(dirname(dataFile), 'tokens.json')

/**
 * The secret's SHA-256. A slow password hash (bcrypt, scrypt) protects guessable
 * passwords; our secrets are 256 random bits, which no one guesses, and a slow hash would
 * cost every API request tens of milliseconds of CPU.
 */
const digest = (secret: string) => createHash('sha256').update(secret).digest()

const info = ({ id, name, role, createdAt }: StoredToken): TokenInfo => ({ id, name, role, createdAt })

export interface TokenStore {
  readonly file: string
  /** Number of tokens: the default mode follows it (SPEC §11). */
  readonly size: number
  list (): TokenInfo[]
  /** Makes a token; the secret is in this answer only. */
  create (input: unknown): Promise<TokenInfo & { token: string }>
  /** Removes the token with this id (or, failing that, this name). */
  revoke (idOrName: string): Promise<TokenInfo>
  /** The token a secret belongs to; compares against every stored hash in constant time. */
  verify (secret: string): TokenInfo | undefined
  close (): void
}

/** Where the token document is kept: the tokens file by default, a table in cluster mode (SPEC §12). */
export interface TokenStorage {
  readText (): Promise<string | null>
  write (document: TokensDocument): Promise<void>
  /** Calls `changed` when someone else changed the document; returns the function that stops it. */
  watch (changed: () => void): () => void
}

export interface TokenStoreOptions {
  /** The tokens file; in cluster mode only a name for messages. */
  file: string
  log?: FastifyBaseLogger
  /** Pick up tokens made or revoked by `npm run token` (or another node) while running. */
  watchFile?: boolean
  storage?: TokenStorage
}

/** The tokens file, written atomically; `watch` follows the CLI's changes. */
function fileStorage (file: string, log: FastifyBaseLogger | undefined): TokenStorage {
  const adapter = atomicJsonFile<TokensDocument>(file)
  return {
    readText: adapter.readText,
    write: adapter.write,
    watch (changed) {
      const name = basename(file)
      const watcher = watch(dirname(file), { persistent: false }, (_event, touched) => {
        if (touched === null || touched === name) changed()
      })
      watcher.on('error', err => log?.error({ err, file }, 'watching the tokens file failed; restart to pick up changes made by `npm run token`'))
      return () => watcher.close()
    }
  }
}

const EMPTY: TokensDocument = { version: 1, tokens: [] }

export async function createTokenStore (options: TokenStoreOptions): Promise<TokenStore> {
  const { file, log } = options
  const ajv = createAjv()
  const checkDocument = checker(ajv, TokensDocument)
  const checkInput = checker(ajv, TokenInput)
  const adapter = options.storage ?? fileStorage(file, log)
  let tokens: Array<{ token: StoredToken, hash: Buffer }> = []

  async function load () {
    const text = await adapter.readText()
    let document = EMPTY
    if (text !== null && text.trim() !== '') {
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (err) {
        throw new Error(`${file}: ${describeJsonError(err, text)}`)
      }
      document = checkDocument(parsed)
    }
    tokens = document.tokens.map(token => ({ token, hash: Buffer.from(token.hash, 'hex') }))
  }

  // Changes go one at a time and start from the file, so the CLI's changes are kept.
  let queue: Promise<unknown> = Promise.resolve()
  function change<T> (apply: (current: StoredToken[]) => { next: StoredToken[], value: T }): Promise<T> {
    const run = queue.then(async () => {
      await load()
      const { next, value } = apply(tokens.map(entry => entry.token))
      await adapter.write({ version: 1, tokens: next })
      tokens = next.map(token => ({ token, hash: Buffer.from(token.hash, 'hex') }))
      return value
    })
    queue = run.catch(() => {})
    return run
  }

  await load()

  let debounce: NodeJS.Timeout | null = null
  const unwatch = options.watchFile
    ? adapter.watch(() => {
      if (debounce) clearTimeout(debounce)
      debounce = setTimeout(() => {
        debounce = null
        queue = queue.then(load).catch(err => log?.error({ reason: (err as Error).message, file }, 'the tokens file is not valid; keeping the tokens loaded before'))
      }, 50)
    })
    : null

  return {
    file,
    get size () { return tokens.length },
    list: () => tokens.map(entry => info(entry.token)),
    create (input) {
      const { name, role } = checkInput(structuredClone(input))
      const secret = 'est_' + randomBytes(32).toString('base64url')
      return change(current => {
        if (current.some(token => token.name === name)) throw new HttpError(409, `A token named '${name}' already exists`)
        const token: StoredToken = {
          id: 'tok-' + randomBytes(4).toString('hex'),
          name,
          role: role as Role,
          hash: digest(secret).toString('hex'),
          createdAt: new Date().toISOString()
        }
        return { next: [...current, token], value: { ...info(token), token: secret } }
      })
    },
    revoke (idOrName) {
      return change(current => {
        const token = current.find(candidate => candidate.id === idOrName) ?? current.find(candidate => candidate.name === idOrName)
        if (token === undefined) throw notFound(`Token '${idOrName}' not found`)
        return { next: current.filter(candidate => candidate !== token), value: info(token) }
      })
    },
    verify (secret) {
      const presented = digest(secret)
      let found: StoredToken | undefined
      // No early exit: the time taken does not depend on which token (if any) matched.
      for (const entry of tokens) {
        if (timingSafeEqual(entry.hash, presented) && found === undefined) found = entry.token
      }
      return found && info(found)
    },
    close () {
      unwatch?.()
      if (debounce) clearTimeout(debounce)
    }
  }
}
