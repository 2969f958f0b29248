// cacheDirProblem: the cache directory is created if missing, must be a writable directory, and not on a kernel file system.
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheDirProblem } from '../../../src/config/cache-dir-problem.js';

const dir = mkdtempSync(join(tmpdir(), 'tender-cache-dir-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cacheDirProblem', () => {
  it('accepts an existing directory and leaves nothing behind in it', () => {
    expect(cacheDirProblem(dir)).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('accepts a missing directory under a writable one, without creating anything', () => {
    const nested = join(dir, 'a', 'b', 'cache');
    expect(cacheDirProblem(nested)).toBeUndefined();
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });

  it('refuses a file, and a path under a file, naming the path', () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    expect(cacheDirProblem(file)).toBe(`"${file}" is not a directory`);
    expect(cacheDirProblem(join(file, 'cache'))).toMatch(/ENOTDIR/);
    expect(cacheDirProblem(join(file, 'a', 'b'))).toMatch(/ENOTDIR|is a file/);
  });

  it('refuses /proc and /sys, also through a symlink', () => {
    expect(cacheDirProblem('/proc/x')).toMatch(/under \/proc, a kernel file system/);
    expect(cacheDirProblem('/sys/kernel/x')).toMatch(/under \/sys/);
    const link = join(dir, 'to-proc');
    symlinkSync('/proc/self', link);
    expect(cacheDirProblem(join(link, 'cache'))).toMatch(/under \/proc/);
  });
});
