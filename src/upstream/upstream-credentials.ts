// An upstream's secrets and TLS material as they are now: read at start by the configuration, re-read here
// when their files change (a rotated Kubernetes Secret, a renewed client certificate) without a restart.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { UpstreamConfig } from '../config/upstreams.js';
import type { Logger } from '../log.js';
import { WatchedFiles, type WatchOptions } from '../watched-files.js';
import type { TlsMaterial } from './connect-options.js';

export interface Secrets {
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly token: string | undefined;
}

/** What changed in one reload: new secrets (tokens from the old ones are dropped), new TLS material (new connections). */
export interface CredentialChange {
  readonly secrets: boolean;
  readonly tls: boolean;
}

type FileKey = 'password' | 'token' | 'ca' | 'cert' | 'key';

export class UpstreamCredentials {
  private current: { password: string | undefined; token: string | undefined; ca: string | undefined; cert: string | undefined; key: string | undefined };
  private readonly files: ReadonlyArray<readonly [FileKey, string]>;
  private readonly watched: WatchedFiles;
  /** The last read failure per file, logged once until it changes. */
  private readonly failures = new Map<string, string>();
  private refusedTls: string | undefined;

  constructor(
    private readonly config: UpstreamConfig,
    private readonly log: Logger,
    private readonly onChange: (change: CredentialChange) => void,
    options: WatchOptions = {},
  ) {
    this.current = { password: config.password, token: config.token, ca: config.ca, cert: config.clientCert, key: config.clientKey };
    const { passwordFile, tokenFile, caFile, clientCertFile, clientKeyFile } = config.files;
    const files: Array<readonly [FileKey, string | undefined]> = [
      ['password', passwordFile],
      ['token', tokenFile],
      ['ca', caFile],
      ['cert', clientCertFile],
      ['key', clientKeyFile],
    ];
    this.files = files.filter((entry): entry is readonly [FileKey, string] => entry[1] !== undefined);
    this.watched = new WatchedFiles(
      this.files.map(([, path]) => path),
      () => this.reload(),
      options,
    );
  }

  get secrets(): Secrets {
    return { username: this.config.username, password: this.current.password, token: this.current.token };
  }

  get tls(): TlsMaterial {
    return { ca: this.current.ca, cert: this.current.cert, key: this.current.key };
  }

  start(): void {
    this.watched.start();
  }

  close(): Promise<void> {
    return this.watched.close();
  }

  /** Reads every watched file; applies what changed. A file that cannot be read (mid-swap, removed) keeps its old value. */
  async reload(): Promise<void> {
    const next = { ...this.current };
    for (const [key, path] of this.files) {
      try {
        next[key] = (await readFile(path, 'utf8')).trim();
        this.failures.delete(path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        if (this.failures.get(path) !== code) this.log.error({ file: path, err: code }, 'cannot read an upstream credential file; keeping the value in use');
        this.failures.set(path, code);
      }
    }
    const secrets = next.password !== this.current.password || next.token !== this.current.token;
    let tls = next.ca !== this.current.ca || next.cert !== this.current.cert || next.key !== this.current.key;
    if (tls) {
      const refusal = tlsProblem(next);
      if (refusal) {
        // A certificate renewed before its key (two files, two writes), or a damaged bundle: keep the old pair.
        const seen = `${refusal}|${next.ca}|${next.cert}|${next.key}`;
        if (this.refusedTls !== seen) this.log.error({ err: refusal }, 'refused the new upstream TLS files; keeping the ones in use');
        this.refusedTls = seen;
        next.ca = this.current.ca;
        next.cert = this.current.cert;
        next.key = this.current.key;
        tls = false;
      }
    }
    if (!secrets && !tls) return;
    this.current = next;
    this.log.info({ secrets, tls }, 'upstream credentials re-read: new requests use them');
    this.onChange({ secrets, tls });
  }
}

/** Why OpenSSL would not use this material, or undefined. */
function tlsProblem(material: { ca: string | undefined; cert: string | undefined; key: string | undefined }): string | undefined {
  if (material.ca !== undefined) {
    // OpenSSL skips what is not a certificate in a CA bundle without a word: a bundle must hold at least one, all readable.
    const blocks = material.ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) return 'the CA bundle holds no PEM certificate';
    try {
      for (const block of blocks) new X509Certificate(block);
    } catch (err) {
      return `the CA bundle holds a certificate that cannot be read (${(err as Error).message})`;
    }
  }
  try {
    createSecureContext({
      ...(material.ca !== undefined ? { ca: material.ca } : {}),
      ...(material.cert !== undefined ? { cert: material.cert } : {}),
      ...(material.key !== undefined ? { key: material.key } : {}),
    });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
