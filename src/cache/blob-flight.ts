// One upstream fetch of one blob, written to disk and shared with every client that wants it.
//
// Clients never read from the upstream socket: they read the temp file behind the writer, so a slow
// client slows nobody, a late joiner gets the bytes already written, and a leaving client costs nothing.
// If the disk fails mid-fill, the bytes from then on are kept in a bounded window in memory for the
// clients already reading; upstream is paused while the slowest of them catches up.
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { DigestMismatchError, DiskWriteError, type BlobStore, type BlobWriter, type RandomAccess } from './blob-store.js';
import { DiskFailureWindow, memoryWindowBytes } from './disk-failure-window.js';
import { FlightCursor, type FlightFill, type FlightState } from './flight-cursor.js';
import type { FlightFile } from './flight-locks.js';
import { checkCeiling, checkedLength, UpstreamLengthError, type FlightLimits } from './flight-limits.js';
import { HashOnlyWriter } from './hash-only-writer.js';
import type { Route, UpstreamBlob } from './ports.js';

export interface FlightHooks {
  onBytes(bytes: number): void;
  /** Upstream answered with a length and the bytes go to a temp file others can follow (see remote-flight.ts). */
  onStreaming?(file: FlightFile): void;
  /** The blob is verified and at its final path. */
  onCommitted(size: number): void;
  /** Wrong content (digest), or a length that disagrees with what is known or allowed (UpstreamLengthError). */
  onMismatch(error: DigestMismatchError | UpstreamLengthError): void;
  /** The disk failed: the flight goes on for its readers, but must not be joined any more. */
  onDiskFailure(error: unknown): void;
  onFailure(error: unknown): void;
  /** The connection broke after `at` bytes; the download goes on from there. */
  onResume(at: number, error: unknown): void;
  onEnd(): void;
}

/** How often one download may be resumed after its connection broke. */
const maxResumes = 3;

class NoReadersError extends Error {
  constructor() {
    super('cache disk failed and no client is reading any more');
  }
}

class TruncatedError extends Error {
  constructor(got: number, size: number) {
    super(`upstream body ended after ${got} of ${size} bytes`);
  }
}

export class BlobFlight implements FlightFill {
  state: FlightState = 'starting';
  size: number | undefined;
  error: unknown;
  /** Bytes readers may consume; the last chunk is held back until the digest is verified. */
  private published = 0;
  private access: RandomAccess | undefined;
  private readonly readers = new Set<FlightCursor>();
  /** Set once a reader has attached: until then a degraded download keeps every byte for it. */
  private hadReaders: boolean;
  private waiters = new Set<() => void>();
  /** Bytes from the disk failure on, for the readers already here. */
  private readonly window = new DiskFailureWindow();
  /** Whether the verified blob reached its final path (false when the disk failed). */
  stored = false;
  /** Resolves once upstream answered with headers; rejects if it never did. */
  readonly started: Promise<void>;
  /** Resolves when the download has ended, however it ended (see state, stored, error); never rejects. */
  readonly ended: Promise<void>;
  private markEnded!: () => void;
  private markStarted!: () => void;
  private markFailedToStart!: (err: unknown) => void;

  constructor(
    readonly digest: Digest,
    private readonly route: Route,
    private readonly store: Pick<BlobStore, 'create'>,
    private readonly signal: AbortSignal,
    private readonly hooks: FlightHooks,
    private readonly limits: FlightLimits = { maxBytes: Number.MAX_SAFE_INTEGER },
    /**
     * No client will read this download (a prefetch): a failing disk ends it at once instead of keeping
     * bytes in memory for a first reader who is not coming.
     */
    unattended = false,
  ) {
    this.hadReaders = unattended;
    this.ended = new Promise<void>((resolve) => (this.markEnded = resolve));
    this.started = new Promise<void>((resolve, reject) => {
      this.markStarted = resolve;
      this.markFailedToStart = reject;
    });
    this.started.catch(() => undefined);
  }

  /** Runs the fetch to its end; never rejects (failures are recorded and signalled to readers). */
  async run(): Promise<void> {
    let writer: BlobWriter | undefined;
    let fetching: Promise<UpstreamBlob> | undefined;
    let response: UpstreamBlob | undefined;
    try {
      // The upstream request leaves first and the temp file is created while it is on its way: on a cold herd
      // upstream's first byte is the critical path, and two file opens need not come before it (issue 17).
      fetching = this.route.upstream.getBlob(this.route.repository, this.digest.value, this.signal);
      fetching.catch(() => undefined);
      writer = await this.store.create(this.digest).catch((err: unknown) => new HashOnlyWriter(this.digest, err));
      this.access = await writer.openReader();
      response = await fetching;
      this.size = checkedLength(this.digest, response, this.limits);
      this.state = 'streaming';
      this.markStarted();
      if (writer.tempName !== undefined && this.size !== undefined) this.hooks.onStreaming?.({ name: writer.tempName, size: this.size });
      for (let resumes = 0; ; resumes++) {
        try {
          await this.consume(writer, response);
          break;
        } catch (err) {
          // A connection lost mid-download is picked up where it broke off (Range), not started over.
          if (!this.resumable(err) || resumes >= maxResumes || this.size === undefined || writer.written >= this.size) throw err;
          this.hooks.onResume(writer.written, err);
          response = await this.route.upstream.getBlob(this.route.repository, this.digest.value, this.signal, writer.written);
          if (response.size !== this.size) throw new Error(`upstream size of ${this.digest.value} changed while resuming`);
        }
      }
      await this.finish(writer);
    } catch (err) {
      // The temp file failed before the answer was taken: a body nobody reads would hold its download slot.
      if (response === undefined)
        void fetching?.then(
          (r) => r.body.destroy(),
          () => undefined,
        );
      await writer?.abort().catch(() => undefined);
      this.fail(err);
    } finally {
      this.hooks.onEnd();
      this.markEnded();
      await this.closeIfIdle();
    }
  }

  private async consume(writer: BlobWriter, response: { body: Readable }): Promise<void> {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      await writer.write(chunk);
      this.hooks.onBytes(chunk.length);
      // Cut at once, before the chunk is published: a body may not run past its size, or without one past the ceiling.
      if (this.size !== undefined && writer.written > this.size) {
        response.body.destroy();
        throw new DigestMismatchError(this.digest.value, 'more bytes than announced', this.size, writer.written);
      }
      if (this.size === undefined) checkCeiling(this.digest, writer.written, response.body, this.limits);
      if (writer.diskFailure !== undefined) await this.keepInMemory(writer, chunk, response.body);
      // With the size known, every byte short of it goes out as it lands (a follower starts on the first
      // chunk, not the second: issue 17); the chunk that completes the blob, or without a size each latest
      // chunk, waits for the digest.
      this.publish(this.size !== undefined && writer.written < this.size ? writer.written : writer.written - chunk.length);
    }
    // A body that ended early is a broken connection too (the length check in finish would fail it).
    if (this.size !== undefined && writer.written < this.size) throw new TruncatedError(writer.written, this.size);
  }

  /** Network trouble is worth resuming; wrong content or length, a deadline or nobody left to serve is not. */
  private resumable(err: unknown): boolean {
    return !(err instanceof DigestMismatchError) && !(err instanceof UpstreamLengthError) && !(err instanceof NoReadersError) && !this.signal.aborted;
  }

  private async finish(writer: BlobWriter): Promise<void> {
    try {
      await writer.commit(this.size);
      this.stored = true;
      this.hooks.onCommitted(writer.written);
    } catch (err) {
      if (!(err instanceof DiskWriteError)) throw err;
      // Verified but not stored: the readers get every byte, the cache gets nothing.
      if (this.window.failedAt === undefined) this.hooks.onDiskFailure(err);
    }
    this.state = 'complete';
    this.publish(writer.written);
  }

  private async keepInMemory(writer: BlobWriter, chunk: Buffer, body: Readable): Promise<void> {
    if (this.window.failedAt === undefined) {
      this.window.open(writer.durableBytes);
      this.hooks.onDiskFailure(writer.diskFailure);
    }
    if (this.readers.size === 0 && this.hadReaders) {
      // Nothing can be cached and everybody left: the rest of the download would be thrown away.
      body.destroy();
      throw new NoReadersError();
    }
    this.window.push(chunk);
    this.trimWindow();
    // The client that started the download may not have attached its reader yet: wait for it too.
    while (this.window.bytes > memoryWindowBytes && (this.readers.size > 0 || !this.hadReaders)) await this.waitForChange();
  }

  private fail(err: unknown): void {
    this.error = err;
    this.state = 'failed';
    this.markFailedToStart(err);
    if (err instanceof DigestMismatchError || err instanceof UpstreamLengthError) this.hooks.onMismatch(err);
    else this.hooks.onFailure(err);
    this.window.clear();
    this.wake();
  }

  /** Random access from `start` that follows the fill; registered at once so the memory window keeps its bytes. */
  cursor(start = 0): FlightCursor {
    const cursor = new FlightCursor(this, start);
    this.readers.add(cursor);
    this.hadReaders = true;
    this.wake();
    return cursor;
  }

  /** Reads published bytes at `position`; 0 means wait. */
  async readAt(buffer: Buffer, position: number): Promise<number> {
    const available = this.published - position;
    if (available <= 0) return 0;
    const want = Math.min(available, buffer.length);
    if (this.window.covers(position)) return this.window.read(buffer, position, want);
    const fileEnd = this.window.failedAt ?? this.published;
    // Published bytes with no file behind them would make a reader spin: fail it instead.
    if (!this.access) throw new Error(`flight for ${this.digest.value} is closed`);
    return this.access.read(buffer.subarray(0, Math.min(want, fileEnd - position)), position);
  }

  /** Drops window chunks every reader has passed, and lets a paused upstream go on. */
  progressed(): void {
    if (this.window.failedAt === undefined) return;
    this.trimWindow();
    this.wake();
  }

  private trimWindow(): void {
    if (!this.hadReaders) return; // the first reader is still on its way and needs every byte
    let lowest = Number.POSITIVE_INFINITY;
    for (const reader of this.readers) lowest = Math.min(lowest, reader.position);
    this.window.trim(lowest);
  }

  /** Whether the temp file can still be read (false once the flight ended and its last reader left). */
  get open(): boolean {
    return this.access !== undefined || this.state === 'starting';
  }

  get publishedBytes(): number {
    return this.published;
  }

  waitForChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  /** Calls `wake` once at the next change (a new chunk, the end, a failure). */
  onChange(wake: () => void): void {
    this.waiters.add(wake);
  }

  async releaseReader(reader: FlightCursor): Promise<void> {
    this.readers.delete(reader);
    this.progressed();
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
    if (this.readers.size > 0 || this.state === 'starting' || this.state === 'streaming') return;
    const access = this.access;
    this.access = undefined;
    await access?.close().catch(() => undefined);
  }
}
