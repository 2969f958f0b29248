// BlobFlight: one upstream fetch shared by every reader, with the last chunk held back until the digest is
// verified, a disk failure that degrades to memory for the readers already there, and hooks called once.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobFlight, type FlightHooks } from '../../../src/cache/blob-flight.js';
import { UpstreamLengthError, type FlightLimits } from '../../../src/cache/flight-limits.js';
import { DigestMismatchError, DiskWriteError } from '../../../src/cache/blob-store.js';
import type { Upstream, UpstreamBlob } from '../../../src/cache/ports.js';
import { parseDigest, type Digest } from '../../../src/oci/digest.js';
import { enospc, MemoryBlobStore } from './memory-blob-store.js';

const digestOf = (bytes: Buffer): Digest => parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);

/** An upstream whose blob body is pushed by the test, chunk by chunk (object mode keeps chunk boundaries). */
class ControlledUpstream implements Upstream {
  readonly name = 'test.local';
  readonly private = false;
  readonly offline = false;
  readonly body = new Readable({ objectMode: true, read() {} });
  getBlobCalls = 0;
  failure: unknown;

  constructor(private readonly size: number | undefined) {}

  async getBlob(): Promise<UpstreamBlob> {
    this.getBlobCalls++;
    if (this.failure !== undefined) throw this.failure;
    return { size: this.size, body: this.body };
  }

  push(chunk: Buffer): void {
    this.body.push(chunk);
  }

  end(): void {
    this.body.push(null);
  }

  getManifest(): never {
    throw new Error('not used');
  }
  headManifest(): never {
    throw new Error('not used');
  }
  headBlob(): never {
    throw new Error('not used');
  }
  listTags(): never {
    throw new Error('not used');
  }
  referrers(): never {
    throw new Error('not used');
  }
}

interface HookCalls {
  bytes: number;
  committed: number[];
  mismatch: Array<DigestMismatchError | UpstreamLengthError>;
  diskFailure: unknown[];
  failure: unknown[];
  resumes: number[];
  end: number;
}

function recordingHooks(): { hooks: FlightHooks; calls: HookCalls } {
  const calls: HookCalls = { bytes: 0, committed: [], mismatch: [], diskFailure: [], failure: [], resumes: [], end: 0 };
  const hooks: FlightHooks = {
    onBytes: (n) => (calls.bytes += n),
    onCommitted: (size) => calls.committed.push(size),
    onMismatch: (err) => calls.mismatch.push(err),
    onDiskFailure: (err) => calls.diskFailure.push(err),
    onFailure: (err) => calls.failure.push(err),
    onResume: (at) => calls.resumes.push(at),
    onEnd: () => (calls.end += 1),
  };
  return { hooks, calls };
}

/** The flight as a Node stream (its cursor read in order), the way a test watches bytes arrive. */
function readerOf(flight: BlobFlight, start = 0, end?: number): Readable {
  const cursor = flight.cursor(start);
  const last = (): number | undefined => end ?? (flight.size === undefined ? undefined : flight.size - 1);
  return new Readable({
    highWaterMark: 256 * 1024,
    read() {
      const stop = last();
      if (stop !== undefined && cursor.position > stop) {
        this.push(null);
        return;
      }
      const buffer = Buffer.allocUnsafe(stop === undefined ? 256 * 1024 : Math.min(256 * 1024, stop - cursor.position + 1));
      cursor.read(buffer, cursor.position).then(
        (got) => this.push(got > 0 ? buffer.subarray(0, got) : null),
        (err: unknown) => this.destroy(err as Error),
      );
    },
    destroy(err, callback) {
      cursor.close().then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
}

interface Collected {
  readonly chunks: Buffer[];
  received: number;
  ended: boolean;
  error: Error | undefined;
  bytes(): Buffer;
  /** Resolves once the stream closed, whether it ended or errored. */
  readonly closed: Promise<void>;
}

function collect(stream: Readable): Collected {
  const chunks: Buffer[] = [];
  const state: Collected = {
    chunks,
    received: 0,
    ended: false,
    error: undefined,
    bytes: () => Buffer.concat(chunks),
    closed: new Promise<void>((resolve) => stream.once('close', () => resolve())),
  };
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    state.received += chunk.length;
  });
  stream.once('end', () => (state.ended = true));
  stream.once('error', (err) => (state.error = err));
  return state;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Several macrotask turns: enough for any reader to take whatever has been published. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

interface Setup {
  readonly blob: Buffer;
  readonly parts: Buffer[];
  readonly digest: Digest;
  readonly store: MemoryBlobStore;
  readonly upstream: ControlledUpstream;
  readonly flight: BlobFlight;
  readonly calls: HookCalls;
}

function setup(sizes: number[], options: { digest?: Digest; announced?: number | null; limits?: FlightLimits } = {}): Setup {
  const parts = sizes.map((n) => randomBytes(n));
  const blob = Buffer.concat(parts);
  const digest = options.digest ?? digestOf(blob);
  const store = new MemoryBlobStore();
  const upstream = new ControlledUpstream(options.announced === null ? undefined : (options.announced ?? blob.length));
  const { hooks, calls } = recordingHooks();
  const flight = new BlobFlight(digest, { upstream, repository: 'team/app' }, store, new AbortController().signal, hooks, options.limits);
  return { blob, parts, digest, store, upstream, flight, calls };
}

/** Pushes one chunk and waits until the flight has taken it in (hashed, written, counted). */
async function feed(s: Setup, chunk: Buffer): Promise<void> {
  const before = s.calls.bytes;
  s.upstream.push(chunk);
  await until(() => s.calls.bytes === before + chunk.length, 'the flight to take a chunk');
}

/** Ends the upstream body; the flight commits the whole blob once and the reader got every byte of it. */
async function endsWhole(s: Setup, run: Promise<unknown>, reader: Collected): Promise<void> {
  s.upstream.end();
  await run;
  await reader.closed;
  expect(reader.bytes().equals(s.blob)).toBe(true);
  expect(s.calls.committed).toEqual([s.blob.length]);
}

describe('BlobFlight', () => {
  it('gives readers created before, during and after the fill the same bytes, from one upstream GET', async () => {
    const s = setup([300 * 1024, 100 * 1024, 5 * 1024]);
    const early = collect(readerOf(s.flight));
    const run = s.flight.run();
    await s.flight.started;
    expect(s.flight.size).toBe(s.blob.length);

    await feed(s, s.parts[0]!);
    // Joins mid-fill and does not read yet: it keeps the flight open past the end.
    const midway = readerOf(s.flight);
    await feed(s, s.parts[1]!);
    await feed(s, s.parts[2]!);
    s.upstream.end();
    await run;
    expect(s.flight.state).toBe('complete');

    const late = collect(readerOf(s.flight));
    const mid = collect(midway);
    await Promise.all([early.closed, mid.closed, late.closed]);

    for (const reader of [early, mid, late]) {
      expect(reader.error).toBeUndefined();
      expect(reader.ended).toBe(true);
      expect(reader.bytes().equals(s.blob)).toBe(true);
    }
    expect(s.upstream.getBlobCalls).toBe(1);
    expect(s.store.blobs.get(s.digest.value)?.bytes.equals(s.blob)).toBe(true);
    expect(s.calls).toMatchObject({ bytes: s.blob.length, committed: [s.blob.length], mismatch: [], diskFailure: [], failure: [], end: 1 });
  });

  it('serves a blob whose size upstream did not announce', async () => {
    const s = setup([1000, 2000], { announced: null });
    const reader = collect(readerOf(s.flight));
    const run = s.flight.run();
    await feed(s, s.parts[0]!);
    await feed(s, s.parts[1]!);
    s.upstream.end();
    await run;
    await reader.closed;

    expect(s.flight.size).toBeUndefined();
    expect(reader.error).toBeUndefined();
    expect(reader.bytes().equals(s.blob)).toBe(true);
    expect(s.calls.committed).toEqual([s.blob.length]);
  });

  it('gives out every byte short of the announced size at once, and the final chunk only once the digest is verified', async () => {
    const s = setup([1000, 500]);
    const reader = collect(readerOf(s.flight));
    const run = s.flight.run();

    // 1000 of 1500 announced bytes cannot be the whole blob: a cold herd's first byte does not wait for a second chunk.
    await feed(s, s.parts[0]!);
    await until(() => reader.received === s.parts[0]!.length, 'the first chunk to reach the reader');

    await feed(s, s.parts[1]!);
    await settle();
    // Upstream has sent everything but not ended: the final chunk is still held back.
    expect(reader.received).toBe(s.blob.length - s.parts[1]!.length);
    expect(s.calls.committed).toEqual([]);

    await endsWhole(s, run, reader);
  });

  it('without an announced size, holds back each latest chunk until the digest is verified', async () => {
    const s = setup([1000, 500], { announced: null });
    const reader = collect(readerOf(s.flight));
    const run = s.flight.run();

    await feed(s, s.parts[0]!);
    await settle();
    // The only chunk so far could be the last one: nothing may be read yet.
    expect(reader.received).toBe(0);

    await feed(s, s.parts[1]!);
    await until(() => reader.received === s.parts[0]!.length, 'the first chunk to reach the reader');
    await settle();
    expect(reader.received).toBe(s.parts[0]!.length);

    await endsWhole(s, run, reader);
  });

  it('sends the upstream GET without waiting for its temp file, and serves it once the file is there', async () => {
    const s = setup([1000, 500]);
    // A store whose temp file is created only once upstream was asked: a flight that opened the file first would never ask.
    const create = s.store.create.bind(s.store);
    s.store.create = async (digest) => {
      await until(() => s.upstream.getBlobCalls === 1, 'the upstream GET before the temp file');
      return create(digest);
    };
    const reader = collect(readerOf(s.flight));
    const run = s.flight.run();
    for (const part of s.parts) await feed(s, part);
    await endsWhole(s, run, reader);
  });

  it('lets go of the upstream body when its temp file cannot be read back', async () => {
    const s = setup([1000, 500]);
    const create = s.store.create.bind(s.store);
    s.store.create = async (digest) => {
      const writer = await create(digest);
      writer.openReader = async () => {
        throw enospc();
      };
      return writer;
    };
    const reader = collect(readerOf(s.flight));
    await s.flight.run();
    await reader.closed;
    expect(s.flight.state).toBe('failed');
    expect(reader.error).toBeInstanceOf(Error);
    // The answer nobody reads is destroyed: it would hold an upstream download slot until its deadline.
    await until(() => s.upstream.body.destroyed, 'the unread upstream body to be destroyed');
    expect(s.store.writers[0]!.aborted).toBe(true);
  });

  describe('content that does not match its digest', () => {
    it.each([
      ['different bytes of the announced size', { sizes: [1000, 500], wrongDigest: true, announced: 1500 }],
      ['a single wrong chunk', { sizes: [1500], wrongDigest: true, announced: 1500 }],
      ['more bytes than announced', { sizes: [1000, 500], wrongDigest: false, announced: 1490 }],
    ])('never gives a reader the final chunk: %s', async (_label, { sizes, wrongDigest, announced }) => {
      const s = setup(sizes, { announced, ...(wrongDigest ? { digest: digestOf(Buffer.from('something else')) } : {}) });
      const early = collect(readerOf(s.flight));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      const midway = collect(readerOf(s.flight));
      if (s.parts[1]) s.upstream.push(s.parts[1]);
      s.upstream.end();
      await run;
      const late = collect(readerOf(s.flight));
      await Promise.all([early.closed, midway.closed, late.closed]);

      const last = s.parts.at(-1)!;
      for (const reader of [early, midway, late]) {
        expect(reader.error).toBeInstanceOf(Error);
        expect(reader.ended).toBe(false);
        expect(reader.received).toBeLessThanOrEqual(s.blob.length - last.length);
        // What it got is a true prefix, so a client can tell nothing but "cut short".
        expect(reader.bytes().equals(s.blob.subarray(0, reader.received))).toBe(true);
      }
      expect(s.flight.state).toBe('failed');
      expect(s.flight.error).toBeInstanceOf(DigestMismatchError);
      expect(s.calls.mismatch).toHaveLength(1);
      expect((s.calls.mismatch[0] as DigestMismatchError).expected).toBe(s.digest.value);
      expect(s.calls).toMatchObject({ committed: [], diskFailure: [], failure: [], end: 1 });
      expect(s.store.blobs.size).toBe(0);
      expect(s.store.writers[0]!.aborted).toBe(true);
    });

    it('treats a body that ends short as a broken connection: resumed, and failed without the last bytes when it cannot be', async () => {
      const s = setup([1000, 500], { announced: 1510 });
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      s.upstream.push(s.parts[1]!);
      s.upstream.end();
      await run;
      await reader.closed;
      expect(reader.error).toBeInstanceOf(Error);
      // Cut short of the announced size: a true prefix, never passed off as the whole blob.
      expect(reader.received).toBeLessThan(1510);
      expect(reader.bytes().equals(s.blob.subarray(0, reader.received))).toBe(true);
      expect(s.flight.state).toBe('failed');
      expect(s.calls.resumes[0]).toBe(1500); // it tried to go on from where the body stopped
      expect(s.calls.committed).toEqual([]);
      expect(s.store.blobs.size).toBe(0);
    });
  });

  describe('disk failures', () => {
    it.each([
      ['the writer reports it after the first chunk', 'set'],
      ['the disk fills up during the second chunk', 'full'],
    ] as const)('delivers every byte to the readers already there when %s, and caches nothing', async (_label, how) => {
      const s = setup([64 * 1024, 300 * 1024, 200 * 1024, 10]);
      if (how === 'full') s.store.failAfterBytes = 64 * 1024 + 100;
      const first = collect(readerOf(s.flight));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      // A slow client: joined before the failure, reads only once upstream is done, across memory chunks.
      const slow = readerOf(s.flight);
      const writer = s.store.writers[0]!;
      if (how === 'set') writer.diskFailure = enospc();
      for (const part of s.parts.slice(1)) await feed(s, part);
      s.upstream.end();
      await run;
      const second = collect(slow);
      await Promise.all([first.closed, second.closed]);

      expect(writer.durableBytes).toBe(s.parts[0]!.length);
      for (const reader of [first, second]) {
        expect(reader.error).toBeUndefined();
        expect(reader.bytes().equals(s.blob)).toBe(true);
      }
      expect(s.store.blobs.size).toBe(0);
      expect(writer.committed).toBe(false);
      // Reported once, when it happened; the commit's DiskWriteError is the same failure.
      expect(s.calls.diskFailure).toHaveLength(1);
      expect((s.calls.diskFailure[0] as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(s.calls).toMatchObject({ committed: [], mismatch: [], failure: [], end: 1 });
      expect(s.flight.state).toBe('complete');
    });

    it('still refuses content that does not match after a disk failure', async () => {
      const s = setup([1000, 1000, 500], { digest: digestOf(Buffer.from('other')) });
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      s.store.writers[0]!.diskFailure = enospc();
      await feed(s, s.parts[1]!);
      await feed(s, s.parts[2]!);
      s.upstream.end();
      await run;
      await reader.closed;

      expect(reader.error).toBeInstanceOf(Error);
      expect(reader.received).toBeLessThanOrEqual(s.blob.length - s.parts[2]!.length);
      expect(s.calls.mismatch).toHaveLength(1);
      expect(s.calls.diskFailure).toHaveLength(1);
      expect(s.calls.committed).toEqual([]);
    });

    it('reports a commit that fails on verified content once, and readers get every byte', async () => {
      const s = setup([2000, 700]);
      s.store.commitFailure = enospc();
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      await feed(s, s.parts[1]!);
      s.upstream.end();
      await run;
      await reader.closed;

      expect(reader.error).toBeUndefined();
      expect(reader.bytes().equals(s.blob)).toBe(true);
      expect(s.calls.diskFailure).toHaveLength(1);
      expect(s.calls.diskFailure[0]).toBeInstanceOf(DiskWriteError);
      expect(s.calls).toMatchObject({ committed: [], mismatch: [], failure: [], end: 1 });
      expect(s.store.blobs.size).toBe(0);
    });

    it('serves the readers from memory when no temp file could be created at all', async () => {
      const s = setup([2000, 3000, 100]);
      s.store.createFailure = enospc();
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      for (const part of s.parts) await feed(s, part);
      s.upstream.end();
      await run;
      await reader.closed;

      expect(reader.error).toBeUndefined();
      expect(reader.bytes().equals(s.blob)).toBe(true);
      expect(s.calls.diskFailure).toHaveLength(1);
      expect(s.calls).toMatchObject({ committed: [], mismatch: [], failure: [], end: 1 });
      expect(s.store.blobs.size).toBe(0);
    });
  });

  describe('ranges', () => {
    it('gives a reader with start/end exactly that inclusive range, across chunk boundaries', async () => {
      const s = setup([1000, 2000, 3000]);
      const ranges: Array<[number, number | undefined]> = [
        [0, 9],
        [0, 0],
        [995, 1004],
        [2500, 2500],
        [999, 3000],
        [5990, 5999],
        [0, 5999],
        [4000, undefined],
        [5999, undefined],
      ];
      const before = ranges.map(([start, end]) => collect(readerOf(s.flight, start, end)));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      await feed(s, s.parts[1]!);
      const during = ranges.map(([start, end]) => collect(readerOf(s.flight, start, end)));
      await feed(s, s.parts[2]!);
      s.upstream.end();
      await run;
      await Promise.all([...before, ...during].map((r) => r.closed));

      for (const [i, [start, end]] of ranges.entries()) {
        const expected = s.blob.subarray(start, end === undefined ? undefined : end + 1);
        for (const reader of [before[i]!, during[i]!]) {
          expect(reader.error, `range ${start}-${end}`).toBeUndefined();
          expect(reader.received, `range ${start}-${end}`).toBe(expected.length);
          expect(reader.bytes().equals(expected), `range ${start}-${end}`).toBe(true);
        }
      }
    });

    it('does not serve a range inside the final chunk before the digest is verified', async () => {
      const s = setup([1000, 1000]);
      const tail = collect(readerOf(s.flight, 1500, 1599));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      await feed(s, s.parts[1]!);
      await settle();
      expect(tail.received).toBe(0);

      s.upstream.end();
      await run;
      await tail.closed;
      expect(tail.bytes().equals(s.blob.subarray(1500, 1600))).toBe(true);
    });
  });

  describe('lengths held to what is known, and to the ceiling', () => {
    it.each([
      ['a Content-Length that disagrees with the size a manifest gave', { announced: 10 * 2 ** 30, limits: { expectedSize: 1500, maxBytes: 2 ** 40 } }],
      ['a Content-Length over maxBlobSize', { announced: 5000, limits: { maxBytes: 4096 } }],
      ['a known size over maxBlobSize, no Content-Length', { announced: null, limits: { expectedSize: 5000, maxBytes: 4096 } }],
    ] as const)('refuses %s before any byte reaches a reader', async (_label, { announced, limits }) => {
      const s = setup([1000, 500], { announced, limits });
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      const err = await s.flight.started.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamLengthError);
      expect((err as UpstreamLengthError).code).toBe('UPSTREAM_ERROR');
      expect((err as UpstreamLengthError).status).toBe(502);
      await run;
      await reader.closed;
      expect(reader.received).toBe(0);
      expect(reader.error).toBeInstanceOf(Error);
      expect(s.calls.mismatch).toEqual([err]);
      expect(s.calls).toMatchObject({ bytes: 0, committed: [], failure: [], resumes: [], end: 1 });
      expect(s.upstream.body.destroyed).toBe(true);
      expect(s.store.blobs.size).toBe(0);
    });

    it('takes a size a manifest gave when upstream sends no length, and cuts a body that runs past it at once', async () => {
      const s = setup([1000, 1000, 1000], { announced: null, limits: { expectedSize: 1500, maxBytes: 2 ** 40 } });
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      await s.flight.started;
      expect(s.flight.size).toBe(1500); // so clients get a Content-Length and ranges work
      await feed(s, s.parts[0]!);
      s.upstream.push(s.parts[1]!);
      await run;
      await reader.closed;
      expect(s.flight.state).toBe('failed');
      expect(s.calls.bytes).toBe(2000); // the third chunk was never taken
      expect(s.upstream.body.destroyed).toBe(true);
      expect(reader.received).toBeLessThanOrEqual(1000);
      expect(reader.error).toBeInstanceOf(Error);
      expect(s.calls.mismatch).toHaveLength(1);
      expect(s.calls.resumes).toEqual([]);
    });

    it('cuts a body of unknown length once it passes maxBlobSize, and serves none of what is beyond', async () => {
      const s = setup([3000, 3000, 3000, 3000], { announced: null, limits: { maxBytes: 5000 } });
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      s.upstream.push(s.parts[1]!);
      await run;
      await reader.closed;
      expect(s.flight.state).toBe('failed');
      expect(s.flight.error).toBeInstanceOf(UpstreamLengthError);
      expect(s.calls.bytes).toBe(6000);
      expect(reader.received).toBeLessThanOrEqual(3000);
      expect(reader.error).toBeInstanceOf(Error);
      expect(s.calls.mismatch).toHaveLength(1);
      expect(s.store.blobs.size).toBe(0);
    });

    it('accepts a Content-Length equal to the known size, under the ceiling', async () => {
      const s = setup([1000, 500], { limits: { expectedSize: 1500, maxBytes: 1500 } });
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      for (const part of s.parts) await feed(s, part);
      s.upstream.end();
      await run;
      await reader.closed;
      expect(reader.bytes().equals(s.blob)).toBe(true);
      expect(s.calls.committed).toEqual([1500]);
    });
  });

  describe('upstream failures', () => {
    it('cuts readers off when the upstream body breaks, and caches nothing', async () => {
      const s = setup([1000, 1000, 1000]);
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();
      await feed(s, s.parts[0]!);
      await feed(s, s.parts[1]!);
      s.upstream.body.destroy(new Error('connection reset'));
      await run;
      await reader.closed;

      expect(reader.error).toBeInstanceOf(Error);
      expect(reader.received).toBeLessThanOrEqual(s.parts[0]!.length + s.parts[1]!.length);
      expect(reader.bytes().equals(s.blob.subarray(0, reader.received))).toBe(true);
      expect(s.flight.state).toBe('failed');
      expect(s.calls.failure).toHaveLength(1);
      expect(s.calls).toMatchObject({ committed: [], mismatch: [], diskFailure: [], end: 1 });
      expect(s.store.blobs.size).toBe(0);
      expect(s.store.writers[0]!.aborted).toBe(true);
    });

    it('rejects `started` when upstream refuses the blob, and its readers fail', async () => {
      const s = setup([100]);
      const refusal = new Error('blob unknown upstream');
      s.upstream.failure = refusal;
      const reader = collect(readerOf(s.flight));
      const run = s.flight.run();

      await expect(s.flight.started).rejects.toBe(refusal);
      await run;
      await reader.closed;
      expect(reader.error).toBeInstanceOf(Error);
      expect(reader.received).toBe(0);
      expect(s.calls.failure).toEqual([refusal]);
      expect(s.calls).toMatchObject({ committed: [], mismatch: [], diskFailure: [], end: 1 });
    });
  });
});
