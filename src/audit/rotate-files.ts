// Size-based rotation as logrotate does it: file.N-1 → file.N, …, file → file.1; the oldest beyond N is replaced.
import { rename, unlink } from 'node:fs/promises';

/**
 * Shifts `path` into `path.1` and every older copy one number up, keeping at most `keep` rotated copies
 * (`keep` 0: the live file is removed). The caller has closed the live file and opens a new one after.
 * Renames within one directory are atomic, so a reader sees each file either under its old name or its new one.
 */
export async function rotateFiles(path: string, keep: number): Promise<void> {
  if (keep === 0) {
    await ignoreMissing(unlink(path));
    return;
  }
  // Renaming onto path.<keep> replaces the oldest copy, which is how it leaves.
  for (let n = keep - 1; n >= 1; n -= 1) await ignoreMissing(rename(`${path}.${n}`, `${path}.${n + 1}`));
  await ignoreMissing(rename(path, `${path}.1`));
}

async function ignoreMissing(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
