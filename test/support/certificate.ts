/**
 * A self-signed certificate for 127.0.0.1, made with `openssl` at test time, once per process:
 * for the fake filer's HTTPS and the SMTP receiver's STARTTLS.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)

export interface Certificate { key: string, cert: string }

async function makeCertificate (): Promise<Certificate> {
  try {
    await execFileP('openssl', ['version'])
  } catch {
    throw new Error('the tests need the `openssl` command to make a self-signed certificate; install openssl')
  }
  const dir = await mkdtemp(join(tmpdir(), 'estatus-cert-'))
  try {
    const keyFile = join(dir, 'key.pem')
    const certFile = join(dir, 'cert.pem')
    await execFileP('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', keyFile, '-out', certFile
    ])
    return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

let made: Promise<Certificate> | undefined
export const selfSignedCertificate = () => (made ??= makeCertificate())
