// The HTTPS serving certificate: read and check a cert/key pair, and swap in a new one when its files change.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.js';
import { WatchedFiles, type WatchOptions } from '../watched-files.js';

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** What may be logged about a certificate: never anything of the key. */
export interface CertificateSummary {
  readonly subject: string | undefined;
  readonly notAfter: string;
  readonly fingerprint: string;
  readonly serial: string;
}

export interface CertificatePair {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly summary: CertificateSummary;
}

/** Where a checked pair goes: node's tls.Server (and so https.Server) keeps open connections on their old context. */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export class CertificateError extends Error {
  constructor(files: CertificateFiles, reason: string, options?: ErrorOptions) {
    super(`tls: certificate "${files.certFile}" with key "${files.keyFile}": ${reason}`, options);
    this.name = 'CertificateError';
  }
}

/** Reads both files and checks them as a pair; throws a CertificateError naming the files. */
export async function readCertificatePair(files: CertificateFiles, signal: AbortSignal): Promise<CertificatePair> {
  const [cert, key] = await readBoth(files, signal);
  return checkPair(files, cert, key);
}

async function readBoth(files: CertificateFiles, signal: AbortSignal): Promise<[Buffer, Buffer]> {
  try {
    return await Promise.all([readFile(files.certFile, { signal }), readFile(files.keyFile, { signal })]);
  } catch (err) {
    if (signal.aborted) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new CertificateError(files, `cannot read ${e.path ?? 'the files'}: ${e.code ?? e.message}`, { cause: err });
  }
}

function checkPair(files: CertificateFiles, cert: Buffer, key: Buffer): CertificatePair {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError(files, `the certificate file holds no PEM certificate (${(err as Error).message})`, { cause: err });
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    // The error text of a key parser never quotes the key, but keep it to the reason anyway.
    throw new CertificateError(files, `the key file holds no unencrypted PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) throw new CertificateError(files, 'the key does not match the certificate');
  // What the server will actually do with the pair (chain order, key type OpenSSL accepts) is only known by trying.
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new CertificateError(files, `OpenSSL refuses the pair (${(err as Error).message})`, { cause: err });
  }
  const notAfter = new Date(x509.validTo);
  return {
    cert,
    key,
    summary: {
      subject: /^CN=(.*)$/m.exec(x509.subject)?.[1],
      notAfter: Number.isNaN(notAfter.getTime()) ? x509.validTo : notAfter.toISOString(),
      fingerprint: x509.fingerprint256,
      serial: x509.serialNumber,
    },
  };
}

export type ReloadOptions = WatchOptions;

/**
 * Watches the pair's files (see WatchedFiles: Kubernetes Secret symlink swaps included), checks a changed
 * pair, and swaps it in with setSecureContext: open connections keep the context they shook hands with, new
 * handshakes get the new one. A pair that fails the check is logged once and the one in use is kept.
 */
export class CertificateReloader {
  private readonly abort = new AbortController();
  private readonly watched: WatchedFiles;
  /** Hash of the last pair read (loaded or refused), or the last read failure: each is acted on once. */
  private lastSeen: string;

  constructor(
    private readonly files: CertificateFiles,
    private current: CertificatePair,
    private readonly target: SecureContextTarget,
    private readonly log: Logger,
    options: ReloadOptions = {},
  ) {
    this.lastSeen = contentHash(current.cert, current.key);
    this.watched = new WatchedFiles([files.certFile, files.keyFile], () => this.checkOnce(), options);
  }

  start(): void {
    this.watched.start();
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.watched.close();
  }

  private async checkOnce(): Promise<void> {
    const signal = this.abort.signal;
    if (signal.aborted) return;
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await readBoth(this.files, signal);
    } catch (err) {
      if (signal.aborted) return;
      const seen = `unreadable:${(err as Error).message}`;
      if (seen !== this.lastSeen) this.log.error({ err: (err as Error).message, ...this.files }, 'cannot read the new certificate; still serving the old one');
      this.lastSeen = seen;
      return;
    }
    const seen = contentHash(cert, key);
    if (seen === this.lastSeen) return;
    this.lastSeen = seen;
    let pair: CertificatePair;
    try {
      pair = checkPair(this.files, cert, key);
      this.target.setSecureContext({ cert: pair.cert, key: pair.key });
    } catch (err) {
      this.log.error({ err: (err as Error).message, ...this.files, serving: this.current.summary }, 'refused the new certificate; still serving the old one');
      return;
    }
    this.current = pair;
    this.log.info({ ...pair.summary, ...this.files }, 'serving certificate loaded');
  }
}

function contentHash(cert: Buffer, key: Buffer): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}
