// Files tender re-reads when they change (the serving certificate in http/, upstream secrets and CA bundles in
// upstream/, signature keys in storage/): a watch on each file and on its directory, a debounce, and a stat poll
// for filesystems where watches stay quiet. The one file watcher in src/ (test/unit/architecture.test.ts).
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface WatchOptions {
  /** Editors and secret mounts write in several steps; one check after they settle. */
  readonly debounceMs?: number;
  /** fs.watch misses events on some filesystems (NFS, some overlay setups): a stat check is the fallback. */
  readonly pollMs?: number;
}

/**
 * Calls `check` when any of `paths` may have changed; the caller reads the files and compares what it
 * gets with what it holds (a change event says nothing reliable about content). One check at a time: a
 * change seen during a check gets a check of its own afterwards.
 *
 * Directories are watched because Kubernetes Secret and ConfigMap volumes replace files by swapping a
 * `..data` symlink in the directory: the files themselves never change, and a watch on a replaced inode
 * goes quiet. The file watches are renewed at every check for the same reason.
 */
export class WatchedFiles {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly paths: readonly string[];
  private readonly debounceMs: number;
  private readonly pollMs: number;
  private closed = false;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private checkAgain = false;
  /** stat() identity of every path at the last poll. */
  private lastStat: string | undefined;

  constructor(
    paths: readonly string[],
    private readonly check: () => Promise<void>,
    options: WatchOptions = {},
  ) {
    this.paths = [...new Set(paths)];
    this.debounceMs = options.debounceMs ?? 250;
    this.pollMs = options.pollMs ?? 30_000;
  }

  start(): void {
    if (this.paths.length === 0) return;
    this.arm();
    this.poll = setInterval(() => void this.pollFiles(), this.pollMs);
    this.poll.unref();
  }

  /** Stops watching; waits for a check that is running. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.poll);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    await this.checking;
  }

  private arm(): void {
    for (const path of new Set(this.paths.map((p) => dirname(p)))) {
      if (!this.watchers.has(path)) this.watch(path);
    }
    // A watch on a file follows its inode, which a rename-over (atomic write, symlink swap) leaves behind: renew.
    for (const path of this.paths) {
      this.watchers.get(path)?.close();
      this.watchers.delete(path);
      this.watch(path);
    }
  }

  private watch(path: string): void {
    if (this.closed) return;
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
    } catch {
      // Missing for a moment during a swap; the directory watch or the poll brings us back here.
    }
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.run(), this.debounceMs);
    this.debounce.unref();
  }

  private async pollFiles(): Promise<void> {
    const signature = await Promise.all(
      this.paths.map((path) =>
        // Nanoseconds: two writes of the same size within one millisecond still differ.
        stat(path, { bigint: true }).then(
          (s) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`,
          (err: NodeJS.ErrnoException) => `error:${err.code ?? 'unknown'}`,
        ),
      ),
    ).then((parts) => parts.join('|'));
    if (signature === this.lastStat) return;
    // The first poll has no baseline and checks once; the caller's content comparison makes that a no-op.
    this.lastStat = signature;
    await this.run();
  }

  private run(): Promise<void> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.checkAgain = false;
        if (this.closed) return;
        this.arm();
        await this.check().catch(() => undefined);
      } while (this.checkAgain && !this.closed);
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }
}
