// `tender verify`: re-hashes every cached blob and quarantines any file that no longer matches its digest.
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';

export interface VerifyReport {
  readonly checked: number;
  readonly bytes: number;
  readonly quarantined: ReadonlyArray<{ digest: string; actual: string; movedTo: string }>;
  readonly ms: number;
}

/** Two files at a time: hashing is CPU-bound and a cache disk is shared with the serving process. */
const parallel = 2;

export async function verifyCache(cacheDir: string, onProgress: (line: string) => void): Promise<VerifyReport> {
  const started = performance.now();
  const { openBlobStore } = await import('../main.js'); // not loaded by `tender serve`'s primary
  const store = await openBlobStore(cacheDir);
  const limit = pLimit(parallel);
  const quarantined: Array<{ digest: string; actual: string; movedTo: string }> = [];
  const work: Array<Promise<void>> = [];
  let checked = 0;
  let bytes = 0;
  for await (const blob of store.list()) {
    work.push(
      limit(async () => {
        const hash = createHash(blob.digest.algorithm);
        try {
          await pipeline(store.read(blob.digest), hash);
        } catch (err) {
          // Evicted by a running server since it was listed: nothing left to check.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw err;
        }
        const actual = `${blob.digest.algorithm}:${hash.digest('hex')}`;
        checked += 1;
        bytes += blob.size;
        if (actual !== blob.digest.value) {
          const movedTo = await store.quarantine(blob.digest);
          quarantined.push({ digest: blob.digest.value, actual, movedTo });
          onProgress(`MISMATCH ${blob.digest.value}: content hashes to ${actual}; moved to ${movedTo}`);
        }
      }),
    );
  }
  await Promise.all(work);
  return { checked, bytes, quarantined, ms: Math.round(performance.now() - started) };
}
