// Following another process's download: its temp file, read as it grows, hashed here, served to the readers
// of this process with the last chunk held back until the holder commits (issue 17, item 2).
//
// The holder (another worker of this host, or a replica on the shared volume) announced the temp file's name
// and the blob's size in its lease. This process trusts neither the holder nor the bytes: it hashes every byte
// it reads in order, publishes them to its readers as they arrive, and keeps the last chunk back until its own
// hash matched the digest and the holder's commit is on the volume. A mismatch, a holder that is gone with
// the file incomplete, or a deadline cuts every reader before its last byte; the next request starts over
// (and takes the download over if nobody holds it).
import { createHash } from 'node:crypto';
import type { Digest } from '../oci/digest.js';
import { DigestMismatchError, type RandomAccess } from './blob-store.js';
import { FlightCursor, type FlightFill, type FlightState } from './flight-cursor.js';
import type { FlightFile } from './flight-locks.js';

export interface RemoteFlightDeps {
  /** The holder's temp file, opened (stays readable after the holder renames or removes it). */
  readonly access: RandomAccess;
  /** Whether the lease is still held by the download that announced `file`. */
  stillHeld(): Promise<boolean>;
  /** Whether the blob is committed on the volume now (adopted into this process's index when it is). */
  committed(): Promise<boolean>;
  readonly wait: (ms: number) => Promise<unknown>;
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
  private access: RandomAccess | undefined;
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
    this.access = deps.access;
    this.ended = new Promise<void>((resolve) => (this.markEnded = resolve));
  }

  /** Follows the file to its end; never rejects (a failure is recorded and cuts the readers). */
  async run(): Promise<void> {
    const hash = createHash(this.digest.algorithm);
    const buffer = Buffer.allocUnsafe(Math.min(readBytes, Math.max(1, this.size)));
    let position = 0;
    try {
      let idle = 0;
      while (position < this.size) {
        this.deps.signal.throwIfAborted();
        const got = await this.deps.access.read(buffer.subarray(0, Math.min(buffer.length, this.size - position)), position);
        if (got > 0) {
          hash.update(buffer.subarray(0, got));
          position += got;
          idle = 0;
          // Every byte as it comes, except the last chunk: that waits for the digest and the commit.
          this.publish(position < this.size ? position : position - got);
          continue;
        }
        idle += 1;
        if (idle % idlePollsPerLeaseCheck === 0 && !(await this.deps.stillHeld())) {
          // The holder may have written its last bytes just before it let go: one more look.
          if ((await this.deps.access.read(buffer.subarray(0, 1), position)) === 0) throw new HolderGoneError(this.digest.value, position, this.size);
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
    return this.access !== undefined;
  }

  cursor(start = 0): FlightCursor {
    const cursor = new FlightCursor(this, start);
    this.readers.add(cursor);
    return cursor;
  }

  async readAt(buffer: Buffer, position: number): Promise<number> {
    const available = this.published - position;
    if (available <= 0) return 0;
    if (!this.access) throw new Error(`the followed download of ${this.digest.value} is closed`);
    return this.access.read(buffer.subarray(0, Math.min(available, buffer.length)), position);
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
    const access = this.access;
    this.access = undefined;
    await access?.close().catch(() => undefined);
  }
}
