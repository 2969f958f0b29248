// Sends a blob (cached or in flight) from random access straight to the socket: no web streams, no compression, pooled buffers.
import type { ServerResponse } from 'node:http';
import type { OpenBlob } from '../cache/serve-verification.js';

/**
 * Read buffers for disk hits, shared by every response and handed out one read at a time: a few
 * responses read 256 KiB at once (full disk and socket speed), hundreds share the same fixed memory.
 * 256 KiB measured fastest of 64 KiB – 1 MiB, and than createReadStream (bench/read-sizes.ts, PROFILE.md).
 * Hand-written rather than fs.createReadStream, which allocates a new buffer for every read and lets
 * hundreds of fast responses hold far more memory than they use.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private allocated = 0;

  constructor(
    readonly bufferBytes = 256 * 1024,
    private readonly maxBuffers = 48,
    /** Size of the buffers handed out once the pool is exhausted (never waited for: see acquire). */
    private readonly overflowBytes = 64 * 1024,
  ) {}

  /**
   * A pooled buffer, or a small one of its own when the pool is used up: waiting would let a few slow
   * clients (or clients of a slow download) stall every other response served from disk.
   */
  acquire(): Buffer {
    const buffer = this.free.pop();
    if (buffer) return buffer;
    if (this.allocated < this.maxBuffers) {
      this.allocated += 1;
      return Buffer.allocUnsafeSlow(this.bufferBytes);
    }
    return Buffer.allocUnsafe(this.overflowBytes);
  }

  release(buffer: Buffer): void {
    if (buffer.length === this.bufferBytes && this.free.length < this.maxBuffers) this.free.push(buffer);
  }
}

/** Sends bytes [start, end] of a blob (cached or in flight): one buffer is read while another is written. */
export async function sendFile(
  outgoing: ServerResponse,
  status: number,
  headers: Record<string, string | number> | string[],
  file: OpenBlob,
  start: number,
  end: number,
  pool: BufferPool,
  onFirstByte: () => void = () => undefined,
): Promise<void> {
  // One listener for the whole response (not one per chunk): a client that leaves closes the source,
  // which ends a read still waiting for a flight's next bytes, and fails the write in progress.
  let failWrite: ((err: Error) => void) | undefined;
  const onGone = (): void => {
    failWrite?.(new Error('client went away'));
    void file.access.close().catch(() => undefined);
  };
  outgoing.once('close', onGone);
  const write = (chunk: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      if (outgoing.destroyed) return reject(new Error('client went away'));
      failWrite = reject;
      outgoing.write(chunk, (err) => {
        failWrite = undefined;
        if (err) reject(err);
        else resolve();
      });
    });
  let position = start;
  let writing: Promise<void> = Promise.resolve();
  try {
    outgoing.writeHead(status, headers);
    // Node sends a head with the first body write; a client of a download in flight gets it now (issue 17).
    if (file.live) outgoing.flushHeaders();
    while (position <= end) {
      const buffer = pool.acquire();
      let got: number;
      try {
        // A read always settles (closing the source ends it), so the buffer is free again afterwards.
        got = await file.access.read(buffer.subarray(0, Math.min(buffer.length, end - position + 1)), position);
        await writing;
      } catch (err) {
        pool.release(buffer);
        throw err;
      }
      if (got === 0) {
        pool.release(buffer);
        // The end of a body of unknown length; for a known one, the file was shorter than it should be.
        if (Number.isFinite(end)) throw new Error('blob shorter than its size');
        break;
      }
      if (position === start) onFirstByte();
      // The buffer goes back to the pool only once the socket has taken it.
      writing = write(buffer.subarray(0, got)).finally(() => pool.release(buffer));
      // Awaited on the next turn; until then a failed write must not count as unhandled.
      writing.catch(() => undefined);
      position += got;
    }
    await writing;
    outgoing.end();
  } catch {
    await writing.catch(() => undefined);
    outgoing.destroy();
  } finally {
    outgoing.off('close', onGone);
    await file.access.close().catch(() => undefined);
    file.done();
  }
}
