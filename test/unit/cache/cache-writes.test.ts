// CacheWrites: a failing cache disk never fails the caller; failures are counted every time, logged once per
// interval and kind, and keep the replica unready until a write (or the readiness probe) works again.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CacheWrites } from '../../../src/cache/cache-writes.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';

function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  metrics.initialize([]);
  let now = 1_000_000;
  const writes = new CacheWrites(metrics, createLogger('info', sink), () => now);
  const count = async (kind: string) =>
    Number(new RegExp(`kind="${kind}"\\} (\\d+)`).exec(await metrics.registry.getSingleMetricAsString('tender_cache_write_errors_total'))?.[1]);
  return { writes, lines, count, advance: (ms: number) => (now += ms) };
}

const erofs = () => Object.assign(new Error('EROFS: read-only file system, open'), { code: 'EROFS' });
const failing = async () => {
  throw erofs();
};
const probeOk = async () => undefined;

describe('CacheWrites', () => {
  it('turns a failed write into false, counts each one, and logs one line per kind per interval', async () => {
    const s = setup();
    for (let i = 0; i < 50; i++) expect(await s.writes.attempt('metadata', 'tag record', failing)).toBe(false);
    expect(await s.writes.attempt('manifest', 'manifest', failing)).toBe(false);
    expect(await s.count('metadata')).toBe(50);
    expect(await s.count('manifest')).toBe(1);
    const failed = () => s.lines.filter((l) => l.msg === 'cache write failed; serving without caching');
    expect(failed().map((l) => l.kind)).toEqual(['metadata', 'manifest']);
    expect(failed()[0]!.err).toContain('EROFS');

    s.advance(31_000);
    await s.writes.attempt('metadata', 'tag record', failing);
    expect(failed()).toHaveLength(3);
    expect(failed()[2]!.alsoFailed).toBe(49); // the failures the quiet interval stood for
  });

  it('is unready while the probe fails, or shortly after a failed write, and ready again after a success', async () => {
    const s = setup();
    expect(await s.writes.problems(probeOk)).toEqual([]);
    expect((await s.writes.problems(failing))[0]).toMatch(/^cache directory does not take writes: EROFS/);

    await s.writes.attempt('blob', 'blob download', failing);
    expect((await s.writes.problems(probeOk))[0]).toMatch(/^cache writes are failing \(blob/);
    s.advance(31_000); // nothing written since, and the probe works: ready again (no traffic comes to an unready replica)
    expect(await s.writes.problems(probeOk)).toEqual([]);

    await s.writes.attempt('metadata', 'tag record', failing);
    expect(await s.writes.attempt('metadata', 'tag record', async () => undefined)).toBe(true);
    expect(await s.writes.problems(probeOk)).toEqual([]);
    expect(s.lines.filter((l) => l.msg === 'cache writes succeed again')).toHaveLength(1);
  });
});
