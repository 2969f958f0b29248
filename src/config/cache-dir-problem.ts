// Start-up check of the cache directory: a path tender can create, write and use as a directory, on a disk.
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Kernel file systems: their files are not files (reads never end, writes go to the kernel). */
const kernelFileSystems = ['/proc', '/sys'];

const errnoReasons: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a component of the path is a file, not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'path too long',
};

/**
 * Why the cache directory cannot be used, or undefined when it can: it must be a directory (or not
 * exist yet, under a directory it can be created in), writable, and not under /proc or /sys, even
 * through a symlink. Checked with access(2), which also says EROFS for a read-only mount, so that
 * checking has no side effect: a configuration with other problems leaves nothing behind.
 */
export function cacheDirProblem(dir: string): string | undefined {
  const path = resolve(dir);
  const shown = JSON.stringify(dir);
  const real = realPathOfNearest(path);
  const kernel = kernelFileSystems.find((root) => real === root || real.startsWith(`${root}/`));
  if (kernel) return `${shown} is under ${kernel}, a kernel file system: expected a directory on a disk`;
  let exists = true;
  try {
    if (!statSync(path).isDirectory()) return `${shown} is not a directory`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `${shown} cannot be examined: ${reason(err)}`;
    exists = false;
  }
  const parent = exists ? path : nearestExisting(path);
  try {
    if (!statSync(parent).isDirectory()) return `${shown} cannot be created: ${parent} is a file`;
    accessSync(parent, constants.W_OK | constants.X_OK);
  } catch (err) {
    return exists ? `${shown} is not writable: ${reason(err)}` : `${shown} cannot be created in ${parent}: ${reason(err)}`;
  }
  return undefined;
}

function nearestExisting(path: string): string {
  let at = path;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

/** The real path of `path`'s nearest existing ancestor, with the rest appended. */
function realPathOfNearest(path: string): string {
  const rest: string[] = [];
  let at = path;
  while (!existsSync(at) && dirname(at) !== at) {
    rest.unshift(basename(at));
    at = dirname(at);
  }
  try {
    return join(realpathSync(at), ...rest);
  } catch {
    return path;
  }
}

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code} (${errnoReasons[code] ?? (err as Error).message})` : String(err);
}
