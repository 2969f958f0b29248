// Lazy-unmounts whatever a daemon a test started left mounted under its own directories, before they are removed.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Mount points at or below any of dirs, deepest first (so nested mounts come off before their parents). */
async function mountsUnder(dirs: string[]): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    // mountinfo escapes space, tab, newline and backslash as octal
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => dirs.some((d) => p === d || p.startsWith(`${d}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * A daemon stopped mid-unpack can leave temp mounts behind (containerd's root/tmpmounts, dockerd's
 * exec-root); rm -rf would otherwise walk into, or fail on, a live mount.
 */
export async function unmountUnder(dirs: string[]): Promise<void> {
  for (const point of await mountsUnder(dirs)) {
    await run('umount', ['-l', point]).catch(() => undefined);
  }
}
