// The primary's lease table and `workers: auto`: what the workers of one host rely on.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockTable } from '../../../src/workers/lock-table.js';
import { cpuQuota, workerCount } from '../../../src/workers/worker-count.js';

describe('LockTable', () => {
  it('gives a key to one worker at a time, and only its holder announces or releases it', () => {
    const table = new LockTable();
    const token = table.acquire(1, 'flight', 'sha256:a')!;
    expect(token).toBeDefined();
    expect(table.acquire(2, 'flight', 'sha256:a')).toBeUndefined();
    // Scopes are separate tables: a tag key never collides with a digest.
    expect(table.acquire(2, 'tag', 'sha256:a')).toBeDefined();
    expect(table.holder('flight', 'sha256:a')).toEqual({ file: undefined });
    table.announce('flight', 'sha256:a', 'not-the-token', { name: 'x', size: 1 });
    expect(table.holder('flight', 'sha256:a')).toEqual({ file: undefined });
    table.announce('flight', 'sha256:a', token, { name: 'r.w1.abc', size: 10 });
    expect(table.holder('flight', 'sha256:a')).toEqual({ file: { name: 'r.w1.abc', size: 10 } });
    table.release('flight', 'sha256:a', 'not-the-token');
    expect(table.holder('flight', 'sha256:a')).toBeDefined();
    table.release('flight', 'sha256:a', token);
    expect(table.holder('flight', 'sha256:a')).toBeUndefined();
  });

  it('takes no path or odd size from a worker as a file to follow', () => {
    const table = new LockTable();
    const token = table.acquire(1, 'flight', 'd')!;
    for (const file of [{ name: '../../etc/passwd', size: 1 }, { name: 'a/b', size: 1 }, { name: 'ok', size: -1 }, { name: 'ok', size: 1.5 }, 'x', null]) {
      table.announce('flight', 'd', token, file);
      expect(table.holder('flight', 'd')).toEqual({ file: undefined });
    }
  });

  it('names the holder once, the first time another worker learns its announced file', () => {
    const table = new LockTable();
    const token = table.acquire(1, 'flight', 'd')!;
    expect(table.followedBy('flight', 'd', 2)).toBeUndefined(); // nothing announced yet: nothing to follow
    table.announce('flight', 'd', token, { name: 'r.w1.abc', size: 10 });
    expect(table.followedBy('flight', 'd', 1)).toBeUndefined(); // the holder asking about itself
    expect(table.followedBy('flight', 'd', 2)).toBe(1);
    expect(table.followedBy('flight', 'd', 3)).toBeUndefined(); // told once
    expect(table.followedBy('flight', 'absent', 2)).toBeUndefined();
  });

  it("drops every lease of a worker that died, and nobody else's", () => {
    const table = new LockTable();
    table.acquire(1, 'flight', 'a');
    table.acquire(1, 'tag', 't');
    table.acquire(2, 'flight', 'b');
    expect(table.drop(1)).toEqual([
      { scope: 'flight', key: 'a' },
      { scope: 'tag', key: 't' },
    ]);
    expect(table.holder('flight', 'a')).toBeUndefined();
    expect(table.holder('flight', 'b')).toBeDefined();
    expect(table.acquire(3, 'flight', 'a')).toBeDefined();
  });
});

describe('workers: auto', () => {
  it('is a number as given, and with auto the cores, bounded by a cgroup CPU quota', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tender-cpu-'));
    try {
      expect(workerCount(3, join(dir, 'absent'))).toBe(3);
      const unlimited = join(dir, 'unlimited');
      await writeFile(unlimited, 'max 100000\n');
      expect(cpuQuota(unlimited)).toBeUndefined();
      const oneAndAHalf = join(dir, 'limited');
      await writeFile(oneAndAHalf, '150000 100000\n');
      expect(cpuQuota(oneAndAHalf)).toBe(1.5);
      // A quota of 1.5 CPUs runs at most 2 workers, and never more than the cores there are.
      expect(workerCount('auto', oneAndAHalf)).toBe(Math.min(2, workerCount('auto', unlimited)));
      expect(workerCount('auto', unlimited)).toBeGreaterThanOrEqual(1);
      const garbage = join(dir, 'garbage');
      await writeFile(garbage, 'nonsense');
      expect(cpuQuota(garbage)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
