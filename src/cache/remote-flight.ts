// Following another process's download: its temp file, read as it grows, hashed here, served to the readers
// of this process with the last chunk held back until the holder commits (issue 17, item 2).
//
// The holder (another worker of this host, or a replica on the shared volume) announced the temp file's name
// and the blob's size in its lease. This process trusts neither the holder nor the bytes: it hashes every byte
// it reads in order, publishes them to its readers as they arrive, and keeps the last chunk back until its own
// hash matched the digest and the holder's commit is on the volume. A mismatch or a deadline cuts every reader
// before its last byte. A holder that is gone with the file incomplete (killed) is taken over: the rest of the
// bytes come from the download that replaces it (started here, or followed in the process that won the lease)
// from where this one stopped, hashed on top of what was read so far, so the readers see one blob whose every
// byte was checked against the digest before their last chunk.
import { createHash } from 'node:crypto';
import type { Digest } from '../oci/digest.js';
import { DigestMismatchError, type RandomAccess } from './blob-store.js';
import { FlightCursor, type FlightFill, type FlightState } from './flight-cursor.js';
import type { FlightFile } from './flight-locks.js';

/** Where bytes from `from` on come from after a take-over: one reader for the follow loop, one for the readers. */
export interface TakenOver {
  readonly follow: RandomAccess;
  readonly serve: RandomAccess;
}

export interface RemoteFlightDeps {
  /** The holder's temp file, opened (stays readable after the holder renames or removes it). */
  readonly access: RandomAccess;
  /** A replacement for a holder that is gone, reading from `from` on; undefined when there is none (the readers are cut). */
  takeOver(from: number): Promise<TakenOver | undefined>;
  /** Whether the lease is still held by the download that announced `file`. */
  stillHeld(): Promise<boolean>;
  /** Whether the blob is committed on the volume now (adopted into this process's index when it is). */
  committed(): Promise<boolean>;
  readonly wait: (ms: number) => Promise<unknown>;
  /** The first bytes read of the holder's file (the flight timeline). */
  onFirstBytes?(bytes: number): void;
  /** The flight deadline. */
  readonly signal: AbortSignal;
  onEnd(): void;
}

/** Hashing reads: large, so a fast holder is followed in few syscalls. */
const readBytes = 1024 * 1024;
/** Pauses while the file does not grow: short first (the holder writes every few ms), then up to this. */
const longestIdleMs = 20;
/** Idle polls between two looks at the lease. */
const idlePollsPerLeaseCheck = 25;
/** Holders that may die under one follower before its readers are cut. */
const maxTakeOvers = 3;

interface Source {
  readonly from: number;
  readonly follow: RandomAccess;
  readonly serve: RandomAccess;
}

export class HolderGoneError extends Error {
  constructor(digest: string, at: number, size: number) {
    super(`the download of ${digest} this process followed stopped after ${at} of ${size} bytes (its holder is gone)`);
    this.name = 'HolderGoneError';
  }
}

export class RemoteFlight implements FlightFill {
  state: FlightState = 'streaming';
  readonly size: number;
  error: unknown;
  /** Whether the holder's commit was seen on the volume. */
  stored = false;
  private published = 0;
  private readers = new Set<FlightCursor>();
  private waiters = new Set<() => void>();
  /** The holder's file from 0, then each take-over's download from where the previous one stopped. */
  private sources: Source[] | undefined;
  /** Resolves at once: the holder's upstream answered before it announced the file. */
  readonly started: Promise<void> = Promise.resolve();
  readonly ended: Promise<void>;
  private markEnded!: () => void;

  constructor(
    readonly digest: Digest,
    readonly file: FlightFile,
    private readonly deps: RemoteFlightDeps,
  ) {
    this.size = file.size;
    this.sources = [{ from: 0, follow: deps.access, serve: deps.access }];
    this.ended = new Promise<void>((resolve) => (this.markEnded = resolve));
  }

  /** Follows the file to its end; never rejects (a failure is recorded and cuts the readers). */
  async run(): Promise<void> {
    const hash = createHash(this.digest.algorithm);
    const buffer = Buffer.allocUnsafe(Math.min(readBytes, Math.max(1, this.size)));
    let position = 0;
    try {
      let idle = 0;
      let source = this.sources![0]!;
      for (let takeOvers = 0; position < this.size;) {
        this.deps.signal.throwIfAborted();
        let got: number;
        try {
          got = await source.follow.read(buffer.subarray(0, Math.min(buffer.length, this.size - position)), position);
        } catch (err) {
          if (!(err instanceof HolderGoneError) || takeOvers >= maxTakeOvers) throw err;
          // The holder died mid-file: go on from here with whoever downloads it now.
          const next = await this.deps.takeOver(position);
          if (!next) throw err;
          takeOvers += 1;
          source = { from: position, ...next };
          this.sources?.push(source);
          idle = 0;
          continue;
        }
        if (got > 0) {
          if (position === 0) this.deps.onFirstBytes?.(got);
          hash.update(buffer.subarray(0, got));
          position += got;
          idle = 0;
          // Every byte as it comes, except the last chunk: that waits for the digest and the commit.
          this.publish(position < this.size ? position : position - got);
          continue;
        }
        idle += 1;
        if (source.from === 0 && idle % idlePollsPerLeaseCheck === 0 && !(await this.deps.stillHeld())) {
          // The holder may have written its last bytes just before it let go: one more look.
          const last = await source.follow.read(buffer.subarray(0, 1), position);
          if (last === 0) source = { ...source, follow: gone(this.digest.value, position, this.size) };
          continue;
        }
        await this.deps.wait(Math.min(idle, longestIdleMs));
      }
      const actual = `${this.digest.algorithm}:${hash.digest('hex')}`;
      if (actual !== this.digest.value) throw new DigestMismatchError(this.digest.value, actual, this.size, position);
      // Verified here; the last chunk goes out once the holder's commit is there, so a client that got every
      // byte finds the blob cached on its next request. A holder gone before committing (its disk refused the
      // rename) does not keep verified bytes from the readers.
      for (let polls = 0; !(this.stored = await this.deps.committed()); polls++) {
        this.deps.signal.throwIfAborted();
        if (polls % idlePollsPerLeaseCheck === idlePollsPerLeaseCheck - 1 && !(await this.deps.stillHeld())) break;
        await this.deps.wait(Math.min(polls + 1, longestIdleMs));
      }
      this.state = 'complete';
      this.publish(this.size);
    } catch (err) {
      this.error = err;
      this.state = 'failed';
      this.wake();
    } finally {
      this.deps.onEnd();
      this.markEnded();
      await this.closeIfIdle();
    }
  }

  get publishedBytes(): number {
    return this.published;
  }

  /** Whether the temp file can still be read (false once the flight ended and its last reader left). */
  get open(): boolean {
    return this.sources !== undefined;
  }

  cursor(start = 0): FlightCursor {
    const cursor = new FlightCursor(this, start);
    this.readers.add(cursor);
    return cursor;
  }

  async readAt(buffer: Buffer, position: number): Promise<number> {
    const available = this.published - position;
    if (available <= 0) return 0;
    const sources = this.sources;
    if (!sources) throw new Error(`the followed download of ${this.digest.value} is closed`);
    // The source that covers `position`, and never past where the next one took over.
    let i = sources.length - 1;
    while (i > 0 && sources[i]!.from > position) i -= 1;
    const end = Math.min(this.published, sources[i + 1]?.from ?? Number.POSITIVE_INFINITY);
    return sources[i]!.serve.read(buffer.subarray(0, Math.min(end - position, buffer.length)), position);
  }

  progressed(): void {}

  waitForChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  onChange(wake: () => void): void {
    this.waiters.add(wake);
  }

  async releaseReader(reader: FlightCursor): Promise<void> {
    this.readers.delete(reader);
    await this.closeIfIdle();
  }

  private publish(bytes: number): void {
    if (bytes > this.published) this.published = bytes;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  private async closeIfIdle(): Promise<void> {
    if (this.readers.size > 0 || this.state === 'streaming') return;
    const sources = this.sources ?? [];
    this.sources = undefined;
    for (const source of sources) {
      await source.follow.close().catch(() => undefined);
      if (source.serve !== source.follow) await source.serve.close().catch(() => undefined);
    }
  }
}

/** A source whose holder is gone: the next read asks for a take-over. */
function gone(digest: string, at: number, size: number): RandomAccess {
  return {
    read: async () => {
      throw new HolderGoneError(digest, at, size);
    },
    close: async () => undefined,
  };
}
