// Start-up check of the cache directory: a path tender can create, write and use as a directory, on a disk.
import { existsSync, mkdirSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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
 * Why the cache directory cannot be used, or undefined when it can. It is created when missing, must
 * be a directory, must take a new file (a probe is written and removed: root passes every permission
 * check, a read-only mount does not), and must not be under /proc or /sys, even through a symlink.
 */
export function cacheDirProblem(dir: string): string | undefined {
  const path = resolve(dir);
  const shown = JSON.stringify(dir);
  const real = realPathOfNearest(path);
  const kernel = kernelFileSystems.find((root) => real === root || real.startsWith(`${root}/`));
  if (kernel) return `${shown} is under ${kernel}, a kernel file system: expected a directory on a disk`;
  let isDirectory: boolean | undefined;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `${shown} cannot be examined: ${reason(err)}`;
  }
  if (isDirectory === false) return `${shown} is not a directory`;
  if (isDirectory === undefined) {
    try {
      makeDirectories(path);
    } catch (err) {
      return `${shown} cannot be created: ${reason(err)}`;
    }
  }
  const probe = join(path, `.tender-write-check-${process.pid}`);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
    unlinkSync(probe);
  } catch (err) {
    return `${shown} is not writable: ${reason(err)}`;
  }
  return undefined;
}

/**
 * mkdir -p one level at a time: a recursive mkdirSync reports ENOENT where the real cause is a
 * read-only mount (EROFS) or a permission (EACCES), and the operator needs the real one.
 */
function makeDirectories(path: string): void {
  const missing: string[] = [];
  for (let at = path; !existsSync(at) && dirname(at) !== at; at = dirname(at)) missing.unshift(at);
  for (const dir of missing) mkdirSync(dir);
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
