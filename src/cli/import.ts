// `tender import`: load an OCI layout archive into a cache, verifying every blob while it streams in.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import tar from 'tar-stream';
import { isDigest } from '../oci/digest.js';
import type { Core } from '../main.js';
import { annotations } from './export.js';

export interface ImportReport {
  readonly blobs: number;
  /** Blobs that were already cached (import is idempotent). */
  readonly present: number;
  readonly bytes: number;
  readonly tags: ReadonlyArray<{ ref: string; digest: string }>;
}

export class BundleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BundleError';
  }
}

/** The layout's index.json is read into memory: bounded like a manifest. */
const manifestLimit = 4 * 1024 * 1024;

export async function importBundle(core: Core, bundle: string): Promise<ImportReport> {
  const extract = tar.extract();
  const input = createReadStream(bundle);
  input.on('error', (err) => extract.destroy(err));
  // The bundle's sha256 as it is read (once): the inventory records which bundle an image came in.
  const hash = createHash('sha256');
  input.on('data', (chunk) => hash.update(chunk));
  const read = finished(input).catch(() => undefined);
  input.pipe(extract);
  let index: Buffer | undefined;
  let layout = false;
  let blobs = 0;
  let present = 0;
  let bytes = 0;
  const failures: string[] = [];
  try {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, '');
      if (name === 'index.json') index = await collect(entry, manifestLimit);
      else if (name === 'oci-layout') layout = (await collect(entry, 4096)).toString().includes('imageLayoutVersion');
      else if (name.startsWith('blobs/') && entry.header.type === 'file') {
        const [, algorithm, hex] = name.split('/');
        const digest = `${algorithm}:${hex}`;
        if (!isDigest(digest)) throw new BundleError(`unexpected file ${name} in the bundle`);
        blobs += 1;
        bytes += entry.header.size ?? 0;
        if (core.pullThrough.cachedSize(digest) !== undefined) {
          present += 1;
          entry.resume();
          continue;
        }
        // Verified while it streams, and pinned; only matching content reaches a final path.
        const stored = await core.pullThrough.storeVerified(digest, entry.header.size ?? undefined, entry as unknown as AsyncIterable<Buffer>);
        if (!stored.stored) failures.push(`${name}: ${stored.reason}`);
      } else entry.resume();
    }
  } catch (err) {
    if (err instanceof BundleError) throw err;
    throw new BundleError(`the bundle is unreadable or truncated: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!layout) throw new BundleError('not an OCI image layout: oci-layout is missing');
  if (failures.length > 0) throw new BundleError(`the bundle was tampered with or damaged; no tag was recorded:\n  ${failures.join('\n  ')}`);
  if (!index) throw new BundleError('not an OCI image layout: index.json is missing');
  await read;
  const sha256 = hash.digest('hex');
  return { blobs, present, bytes, tags: await recordTags(core, JSON.parse(index.toString('utf8')) as LayoutIndex, sha256) };
}

interface LayoutIndex {
  manifests?: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
}

/** Records each image's tag, manifests, pins and visibility (through the core), once every blob it needs is verified and present. */
async function recordTags(core: Core, index: LayoutIndex, bundle: string): Promise<Array<{ ref: string; digest: string }>> {
  const recorded: Array<{ ref: string; digest: string }> = [];
  for (const top of index.manifests ?? []) {
    const named = top.annotations?.[annotations.upstream];
    const name = top.annotations?.[annotations.repository];
    if (!named || !name) continue; // not exported by tender: nothing to name it by
    // Named the way requests are routed here: aliases resolved, and a private upstream stays private.
    let route;
    try {
      route = core.router.resolve({ ns: named, name });
    } catch (err) {
      throw new BundleError(`the bundle names ${named}/${name}, which this mirror does not serve: ${(err as Error).message}`);
    }
    if (!isDigest(top.digest)) throw new BundleError(`index.json names ${JSON.stringify(top.digest)}, which is not a digest`);
    try {
      await core.pullThrough.adopt({ route, tag: top.annotations?.[annotations.tag], digest: top.digest, mediaType: top.mediaType, bundle });
    } catch (err) {
      if ((err as Error).name !== 'AdoptionError') throw err;
      throw new BundleError(`the bundle is incomplete: ${(err as Error).message}`);
    }
    recorded.push({ ref: top.annotations?.[annotations.refName] ?? `${route.upstream.name}/${route.repository}@${top.digest}`, digest: top.digest });
  }
  return recorded;
}

async function collect(entry: AsyncIterable<unknown>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of entry as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BundleError(`a layout file is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
