// A reader's place in a download: random access that waits for bytes not yet published.
import type { Digest } from '../oci/digest.js';
import type { RandomAccess } from './blob-store.js';

export type FlightState = 'starting' | 'streaming' | 'complete' | 'failed';

/** What a cursor needs of the download it follows (BlobFlight). */
export interface FlightFill {
  readonly digest: Digest;
  readonly state: FlightState;
  /** Bytes readers may consume; the last chunk is held back until the digest is verified. */
  readonly publishedBytes: number;
  /** Reads published bytes at `position`; 0 means wait. */
  readAt(buffer: Buffer, position: number): Promise<number>;
  /** A reader moved on: window bytes every reader has passed may go. */
  progressed(): void;
  /** Calls `wake` once at the next change (a new chunk, the end, a failure). */
  onChange(wake: () => void): void;
  releaseReader(cursor: FlightCursor): Promise<void>;
}

/**
 * Ends (0) at the end of a complete blob, and throws once the flight failed, so a client never gets the
 * last bytes of content that did not verify.
 */
export class FlightCursor implements RandomAccess {
  position: number;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly flight: FlightFill,
    start: number,
  ) {
    this.position = start;
  }

  async read(buffer: Buffer, position: number): Promise<number> {
    this.position = position;
    for (;;) {
      const got = await this.flight.readAt(buffer, position);
      if (got > 0) {
        this.position = position + got;
        this.flight.progressed();
        return got;
      }
      if (this.flight.state === 'failed') throw new Error(`upstream fetch of ${this.flight.digest.value} failed`);
      // Re-check after the await: bytes published meanwhile must not be waited for.
      if (position < this.flight.publishedBytes) continue;
      if (this.flight.state === 'complete') return 0;
      if (this.closed) throw new Error('reader closed');
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.flight.onChange(resolve);
      });
      if (this.closed) throw new Error('reader closed');
    }
  }

  /** Ends the reader; a read waiting for bytes ends at once (with an error). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    await this.flight.releaseReader(this);
  }
}
