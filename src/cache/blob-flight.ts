// One upstream fetch of one blob, written to disk and shared with every client that wants it.
//
// Clients never read from the upstream socket: they read the temp file behind the writer, so a slow
// client slows nobody, a late joiner gets the bytes already written, and a leaving client costs nothing.
import { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { DigestMismatchError, type BlobStore, type BlobWriter, type RandomAccess, type Route } from './ports.js';

export type FlightState = 'starting' | 'streaming' | 'committed' | 'failed';

export interface FlightHooks {
  onBytes(upstream: string, bytes: number): void;
  onMismatch(upstream: string, error: DigestMismatchError): void;
  onFailure(upstream: string, error: unknown): void;
  onEnd(): void;
}

const readerChunk = 256 * 1024;

export class BlobFlight {
  state: FlightState = 'starting';
  size: number | undefined;
  error: unknown;
  /** Bytes readers may consume; the last chunk is held back until the digest is verified. */
  private published = 0;
  private readers = 0;
  private access: RandomAccess | undefined;
  private waiters = new Set<() => void>();
  /** Resolves once upstream answered with headers; rejects if it never did. */
  readonly started: Promise<void>;
  private markStarted!: () => void;
  private markFailedToStart!: (err: unknown) => void;

  constructor(
    readonly digest: Digest,
    private readonly route: Route,
    private readonly store: BlobStore,
    private readonly signal: AbortSignal,
    private readonly hooks: FlightHooks,
  ) {
    this.started = new Promise<void>((resolve, reject) => {
      this.markStarted = resolve;
      this.markFailedToStart = reject;
    });
    this.started.catch(() => undefined);
  }

  /** Runs the fetch to its end; never rejects (failures are recorded and signalled to readers). */
  async run(): Promise<void> {
    let writer: BlobWriter | undefined;
    const upstream = this.route.upstream.name;
    try {
      writer = await this.store.create(this.digest);
      this.access = await writer.openReader();
      const response = await this.route.upstream.getBlob(this.route.repository, this.digest.value, this.signal);
      this.size = response.size;
      this.state = 'streaming';
      this.markStarted();
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        await writer.write(chunk);
        this.hooks.onBytes(upstream, chunk.length);
        if (this.size !== undefined && writer.written > this.size) {
          response.body.destroy();
          throw new DigestMismatchError(this.digest.value, 'more bytes than announced', this.size, writer.written);
        }
        this.publish(writer.written - chunk.length);
      }
      await writer.commit(this.size);
      this.state = 'committed';
      this.publish(writer.written);
    } catch (err) {
      await writer?.abort().catch(() => undefined);
      this.error = err;
      this.state = 'failed';
      this.markFailedToStart(err);
      if (err instanceof DigestMismatchError) this.hooks.onMismatch(upstream, err);
      else this.hooks.onFailure(upstream, err);
      this.wake();
    } finally {
      this.hooks.onEnd();
      await this.closeIfIdle();
    }
  }

  /** A stream of the blob from `start` to `end` (inclusive), following the fill as it goes. */
  reader(start = 0, end?: number): Readable {
    this.readers += 1;
    return new FlightReader(this, start, end);
  }

  /** Reads published bytes at `position`; 0 means wait. */
  async readAt(buffer: Buffer, position: number): Promise<number> {
    const available = this.published - position;
    if (available <= 0 || !this.access) return 0;
    const target = available < buffer.length ? buffer.subarray(0, available) : buffer;
    return this.access.read(target, position);
  }

  get publishedBytes(): number {
    return this.published;
  }

  waitForChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  async releaseReader(): Promise<void> {
    this.readers -= 1;
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
    if (this.readers > 0 || this.state === 'starting' || this.state === 'streaming') return;
    const access = this.access;
    this.access = undefined;
    await access?.close().catch(() => undefined);
  }
}

class FlightReader extends Readable {
  private position: number;
  private released = false;

  constructor(
    private readonly flight: BlobFlight,
    start: number,
    private readonly end: number | undefined,
  ) {
    super({ highWaterMark: readerChunk });
    this.position = start;
  }

  override _read(): void {
    this.pump().catch((err: unknown) => this.destroy(err as Error));
  }

  private async pump(): Promise<void> {
    for (;;) {
      const last = this.end ?? (this.flight.size === undefined ? undefined : this.flight.size - 1);
      if (last !== undefined && this.position > last) {
        this.push(null);
        return;
      }
      const want = last === undefined ? readerChunk : Math.min(readerChunk, last - this.position + 1);
      const buffer = Buffer.allocUnsafe(want);
      const got = await this.flight.readAt(buffer, this.position);
      if (got > 0) {
        this.position += got;
        this.push(buffer.subarray(0, got));
        return;
      }
      if (this.flight.state === 'failed') {
        // Cut the client off before the last bytes, so its own digest check cannot pass.
        this.destroy(new Error(`upstream fetch of ${this.flight.digest.value} failed`));
        return;
      }
      // Re-check after the await: bytes published meanwhile must not be waited for.
      if (this.position < this.flight.publishedBytes) continue;
      if (this.flight.state === 'committed') {
        this.push(null);
        return;
      }
      await this.flight.waitForChange();
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.released) {
      this.released = true;
      this.flight.releaseReader().then(() => callback(err), () => callback(err));
      return;
    }
    callback(err);
  }
}
