// The TrustedKeys port over PEM files: each signature policy's keys, re-read when a file changes.
//
// Kubernetes mounts a Secret as symlinks into a `..data` directory that it swaps atomically on update
// (kubelet AtomicWriter), so a key file's own mtime never changes: what changes is the file the path
// resolves to. WatchedFiles (watched-files.ts, the one file watcher the serving certificate and upstream
// secrets use too) watches the files and their directories and polls them every `pollMs`; on each of its
// checks every file is stat'ed through its symlinks (device, inode, size, mtime and ctime compared) and
// only a file whose stat changed is read again.
import { readFileSync, statSync } from 'node:fs';
import { keySet, type KeySet, type TrustedKeys } from '../cache/trusted-keys.js';
import { describeError } from '../oci/errors.js';
import { parsePublicKey, type TrustedKey } from '../trust/public-key.js';
import type { Logger } from '../log.js';
import { WatchedFiles } from '../watched-files.js';

export interface KeyFilePolicy {
  readonly name: string;
  readonly keyFiles: readonly string[];
}

interface FileState {
  readonly stamp: string;
  readonly key: TrustedKey | undefined;
}

/** A PEM public key is under 1 KiB; a file far larger is not read. */
const maxKeyFileBytes = 64 * 1024;

export class KeyFiles implements TrustedKeys {
  private readonly files = new Map<string, FileState>();
  private readonly sets = new Map<string, KeySet>();
  private watched: WatchedFiles | undefined;

  constructor(
    private readonly policies: readonly KeyFilePolicy[],
    private readonly log: Logger,
    private readonly pollMs = 2_000,
  ) {
    this.refresh(true);
  }

  keysOf(policy: string): KeySet {
    return this.sets.get(policy) ?? keySet([]);
  }

  /** Starts noticing changes (serve); a command that runs once does not need to. */
  watch(): void {
    if (this.watched) return;
    const files = this.policies.flatMap((p) => p.keyFiles);
    this.watched = new WatchedFiles(files, async () => this.refresh(false), { pollMs: this.pollMs });
    this.watched.start();
  }

  /** Stops watching; waits for a check that is running. */
  async close(): Promise<void> {
    await this.watched?.close();
    this.watched = undefined;
  }

  /** Re-reads every file whose stat changed, and rebuilds the key sets of the policies that use it. */
  private refresh(initial: boolean): void {
    const changed = new Set<string>();
    for (const file of new Set(this.policies.flatMap((p) => p.keyFiles))) {
      const stamp = stampOf(file);
      const before = this.files.get(file);
      if (before && before.stamp === stamp) continue;
      const key = stamp.startsWith('error:') ? undefined : this.read(file);
      this.files.set(file, { stamp, key });
      changed.add(file);
      if (!initial) {
        if (key) this.log.info({ file, key: key.id, algorithm: key.algorithm }, 'signature key file changed: key re-read');
        else
          this.log.error(
            { file, problem: stamp.startsWith('error:') ? stamp.slice(6) : 'not a public key' },
            'signature key file changed and holds no usable key: its policy no longer trusts it',
          );
      }
    }
    for (const policy of this.policies) {
      if (!initial && !policy.keyFiles.some((f) => changed.has(f))) continue;
      const keys = policy.keyFiles.map((f) => this.files.get(f)?.key).filter((k): k is TrustedKey => k !== undefined);
      const next = keySet(keys);
      const before = this.sets.get(policy.name);
      this.sets.set(policy.name, next);
      if (!initial && before?.fingerprint !== next.fingerprint) {
        this.log.warn({ policy: policy.name, keys: keys.map((k) => k.id) }, 'signature policy keys changed: verdicts made with the old keys no longer count');
      }
    }
  }

  private read(file: string): TrustedKey | undefined {
    try {
      const parsed = parsePublicKey(readFileSync(file, 'utf8'));
      if (parsed.ok) return parsed.key;
      this.log.error({ file, problem: parsed.problem }, 'signature key file is not a supported public key');
    } catch (err) {
      this.log.error({ file, err: describeError(err) }, 'signature key file cannot be read');
    }
    return undefined;
  }
}

/** What identifies the file's content now, through symlinks; an error is a state too (the file is gone). */
function stampOf(file: string): string {
  try {
    const s = statSync(file, { bigint: true });
    if (s.size > BigInt(maxKeyFileBytes)) return `error:larger than ${maxKeyFileBytes} bytes`;
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? describeError(err)}`;
  }
}
