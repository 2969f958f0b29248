// The HTTPS serving certificate: read and check a cert/key pair, and swap in a new one when its files change.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.js';

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

export interface ReloadOptions {
  /** Editors and secret mounts write in several steps; one check after they settle. */
  readonly debounceMs?: number;
  /** fs.watch misses events on some filesystems (NFS, some overlay setups): a stat check is the fallback. */
  readonly pollMs?: number;
  /** Kept in every new context: the CAs client certificates are checked against (admission's mutual TLS). */
  readonly clientCa?: string;
}

/**
 * Watches the pair's files and their directories, checks a changed pair, and swaps it in with
 * setSecureContext: open connections keep the context they shook hands with, new handshakes get the new one.
 * A pair that fails the check is logged once and the one in use is kept.
 */
export class CertificateReloader {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly abort = new AbortController();
  private readonly debounceMs: number;
  private readonly pollMs: number;
  private readonly clientCa: string | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private checkAgain = false;
  /** Hash of the last pair read (loaded or refused), or the last read failure: each is acted on once. */
  private lastSeen: string;
  /** stat() identity of both files at the last poll. */
  private lastStat: string | undefined;

  constructor(
    private readonly files: CertificateFiles,
    private current: CertificatePair,
    private readonly target: SecureContextTarget,
    private readonly log: Logger,
    options: ReloadOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 250;
    this.pollMs = options.pollMs ?? 30_000;
    this.clientCa = options.clientCa;
    this.lastSeen = contentHash(current.cert, current.key);
  }

  start(): void {
    this.arm();
    this.poll = setInterval(() => void this.pollFiles(), this.pollMs);
    this.poll.unref();
  }

  async close(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.debounce);
    clearInterval(this.poll);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    await this.checking;
  }

  /**
   * Directories are watched because Kubernetes secret volumes replace files by swapping a `..data` symlink in
   * the directory: the files themselves never change, and a watch on a replaced inode goes quiet.
   */
  private arm(): void {
    const { certFile, keyFile } = this.files;
    for (const path of new Set([dirname(certFile), dirname(keyFile)])) {
      if (!this.watchers.has(path)) this.watch(path);
    }
    // A watch on a file follows its inode, which a rename-over (atomic write, symlink swap) leaves behind: renew.
    for (const path of new Set([certFile, keyFile])) {
      this.watchers.get(path)?.close();
      this.watchers.delete(path);
      this.watch(path);
    }
  }

  private watch(path: string): void {
    if (this.abort.signal.aborted) return;
    try {
      // No signal option: on Node 20 it leaves an abort listener behind per watcher; close() suffices.
      const watcher = watch(path, { persistent: false }, () => this.schedule());
      watcher.on('error', () => {
        // The watched path went away (directory replaced, file deleted): the next check arms it again.
        watcher.close();
        if (this.watchers.get(path) === watcher) this.watchers.delete(path);
        this.schedule();
      });
      this.watchers.set(path, watcher);
    } catch (err) {
      // Missing for a moment during a swap; the directory watch or the poll brings us back here.
      this.log.debug({ path, err: (err as NodeJS.ErrnoException).code }, 'cannot watch certificate path yet');
    }
  }

  private schedule(): void {
    if (this.abort.signal.aborted) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), this.debounceMs);
    this.debounce.unref();
  }

  private async pollFiles(): Promise<void> {
    const signature = await Promise.all(
      [this.files.certFile, this.files.keyFile].map((path) =>
        stat(path).then(
          (s) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`,
          (err: NodeJS.ErrnoException) => `error:${err.code ?? 'unknown'}`,
        ),
      ),
    ).then((parts) => parts.join('|'));
    if (signature === this.lastStat) return;
    // The first poll has no baseline and reads once; the content comparison makes that a no-op.
    this.lastStat = signature;
    await this.check();
  }

  /** One check at a time; a change seen during a check gets a check of its own afterwards. */
  private check(): Promise<void> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.checkAgain = false;
        await this.checkOnce();
      } while (this.checkAgain && !this.abort.signal.aborted);
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const signal = this.abort.signal;
    if (signal.aborted) return;
    this.arm();
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
      // A new context replaces the whole old one: the client CA must be given again, or mutual TLS ends at the first renewal.
      this.target.setSecureContext({ cert: pair.cert, key: pair.key, ...(this.clientCa === undefined ? {} : { ca: this.clientCa }) });
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
