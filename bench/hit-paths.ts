// Shared by bench/profile.ts and bench/compare.ts: the warm hit paths (the URLs and request headers of rows b and
// c), one upstream with the bench content, and cleanup on exit and on signals.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RegistryHandle } from '../test/helpers/registry.js';
import { Cleanup } from './procs.js';
import { MANIFEST_ACCEPT, MANIFEST_CONNECTIONS, SMALL_CONNECTIONS, blobUrl, getOnce, manifestUrl } from './scenarios.js';
import { TAG, fillUpstream, startUpstream, type BenchContent } from './upstream.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export type HitPath = 'blob' | 'manifest' | 'tag';
export const HIT_PATHS: readonly HitPath[] = ['blob', 'manifest', 'tag'];

export interface HitRequest {
  url: string;
  headers: Record<string, string>;
  connections: number;
  digest: string;
  what: string;
}

/** The request of row b (64 KiB blob) or c (manifest by digest, by tag) against a tender at `base`. */
export function hitRequest(path: HitPath, base: string, content: BenchContent): HitRequest {
  const accept = { accept: MANIFEST_ACCEPT };
  switch (path) {
    case 'blob':
      return { url: blobUrl(base, content.small.digest), headers: {}, connections: SMALL_CONNECTIONS, digest: content.small.digest, what: '64 KiB blob' };
    case 'manifest':
      return {
        url: manifestUrl(base, content.manifestDigest),
        headers: accept,
        connections: MANIFEST_CONNECTIONS,
        digest: content.manifestDigest,
        what: 'manifest by digest',
      };
    case 'tag':
      return { url: manifestUrl(base, TAG), headers: accept, connections: MANIFEST_CONNECTIONS, digest: content.manifestDigest, what: 'manifest by tag' };
  }
}

/** The miss that makes the path warm; throws unless the body matches its digest. */
export async function warm(req: HitRequest): Promise<void> {
  const got = await getOnce(req.url, req.headers);
  if (got.status !== 200 || got.digest !== req.digest) throw new Error(`warm-up of ${req.what}: HTTP ${got.status}, ${got.digest}`);
}

export function parseHitPaths(text: string): HitPath[] {
  const paths = text.split(',').map((s) => s.trim());
  for (const p of paths) if (!HIT_PATHS.includes(p as HitPath)) throw new Error(`unknown hit path "${p}" (one of ${HIT_PATHS.join(', ')})`);
  return paths as HitPath[];
}

/** A Cleanup that also runs on SIGINT/SIGTERM, and a last-resort kill of children on exit. */
export function cleanupOnExit(): Cleanup {
  const cleanup = new Cleanup();
  let exiting = false;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      if (exiting) return;
      exiting = true;
      void cleanup.run().finally(() => process.exit(code));
    });
  }
  process.on('exit', () => cleanup.killAllNow());
  return cleanup;
}

export function buildDist(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
}

export async function upstreamWithContent(cleanup: Cleanup): Promise<{ upstream: RegistryHandle; content: BenchContent }> {
  const upstream = await startUpstream(cleanup);
  return { upstream, content: await fillUpstream(upstream) };
}

export const say = (msg: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};
