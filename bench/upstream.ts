// The real upstream (distribution) and the bench content: a 256 MiB layer streamed in, a 64 KiB layer, one manifest.
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { MediaTypes, pushBlob, pushManifest, pseudoRandomBytes, sha256 } from '../test/helpers/images.js';
import { startRegistry, type RegistryHandle } from '../test/helpers/registry.js';
import type { Cleanup } from './procs.js';

export const REPOSITORY = 'bench/app';
export const TAG = 'v1';
export const BIG_SIZE = 256 * 1024 * 1024;
export const SMALL_SIZE = 64 * 1024;
/** Scenario f's blob: pushed only when f runs (BENCH_SKIP_MEMORY unset), after a–e. */
export const HUGE_SIZE = 1024 * 1024 * 1024;

export interface BlobRef {
  digest: string;
  size: number;
}

export interface BenchContent {
  big: BlobRef;
  small: BlobRef;
  manifestDigest: string;
  manifestMediaType: string;
}

const CHUNK = 1024 * 1024;

/**
 * Deterministic, incompressible bytes without holding them: AES-128-CTR keystream over zeros, 1 MiB at a time.
 * (test/helpers' pseudoRandomBytes needs the whole blob in one Buffer and one hash call per 32 bytes.)
 */
function* keystream(seed: string, size: number): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  for (let offset = 0; offset < size; offset += CHUNK) {
    yield cipher.update(zeros.subarray(0, Math.min(CHUNK, size - offset)));
  }
}

function digestOf(seed: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of keystream(seed, size)) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/** Monolithic upload (POST, then PUT ?digest= with the body streamed), so the driver never holds 256 MiB. */
async function pushStreamedBlob(url: string, repository: string, seed: string, size: number): Promise<string> {
  const digest = digestOf(seed, size);
  const start = await request(`${url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await start.body.dump();
  if (start.statusCode !== 202) throw new Error(`start upload: HTTP ${start.statusCode}`);
  const location = String(start.headers.location ?? '');
  const base = new URL(location, url).href;
  const put = await request(`${base}${base.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: Readable.from(keystream(seed, size)),
  });
  const text = await put.body.text();
  if (put.statusCode !== 201) throw new Error(`upload ${digest}: HTTP ${put.statusCode}: ${text}`);
  return digest;
}

/** The 1 GiB layer for scenario f, streamed like the 256 MiB one (never held in memory); not in the manifest. */
export async function pushHugeBlob(registry: RegistryHandle): Promise<BlobRef> {
  const digest = await pushStreamedBlob(registry.url, REPOSITORY, 'tender-bench/huge', HUGE_SIZE);
  return { digest, size: HUGE_SIZE };
}

export async function startUpstream(cleanup: Cleanup): Promise<RegistryHandle> {
  const registry = await startRegistry();
  cleanup.add(() => registry.stop());
  return registry;
}

export async function fillUpstream(registry: RegistryHandle): Promise<BenchContent> {
  const bigDigest = await pushStreamedBlob(registry.url, REPOSITORY, 'tender-bench/big', BIG_SIZE);
  const smallBytes = pseudoRandomBytes('tender-bench/small', SMALL_SIZE);
  const small = { digest: sha256(smallBytes), size: SMALL_SIZE, mediaType: MediaTypes.ociLayer, bytes: smallBytes };
  await pushBlob(registry, REPOSITORY, small);
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [bigDigest, small.digest] },
    }),
  );
  const config = { digest: sha256(configBytes), size: configBytes.length, mediaType: MediaTypes.ociConfig, bytes: configBytes };
  await pushBlob(registry, REPOSITORY, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [
        { mediaType: MediaTypes.ociLayer, digest: bigDigest, size: BIG_SIZE },
        { mediaType: MediaTypes.ociLayer, digest: small.digest, size: SMALL_SIZE },
      ],
    }),
  );
  const manifestDigest = await pushManifest(registry, REPOSITORY, TAG, manifest, MediaTypes.ociManifest);
  return {
    big: { digest: bigDigest, size: BIG_SIZE },
    small: { digest: small.digest, size: SMALL_SIZE },
    manifestDigest,
    manifestMediaType: MediaTypes.ociManifest,
  };
}
