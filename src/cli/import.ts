// `tender import`: load an OCI layout archive into a cache, verifying every blob while it streams in.
import { createReadStream } from 'node:fs';
import tar from 'tar-stream';
import { DigestMismatchError } from '../cache/ports.js';
import { visibilityLink } from '../cache/visibility.js';
import { isDigest, parseDigest } from '../oci/digest.js';
import { declaredMediaType } from '../oci/media-types.js';
import { referencesOf } from '../oci/manifest.js';
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

/** Manifests are read back after the blobs are in, to learn media types and what they reference. */
const manifestLimit = 4 * 1024 * 1024;

export async function importBundle(core: Core, bundle: string): Promise<ImportReport> {
  const extract = tar.extract();
  const input = createReadStream(bundle);
  input.on('error', (err) => extract.destroy(err));
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
        const value = `${algorithm}:${hex}`;
        if (!isDigest(value)) throw new BundleError(`unexpected file ${name} in the bundle`);
        const digest = parseDigest(value);
        blobs += 1;
        bytes += entry.header.size ?? 0;
        if (core.pullThrough.blobs.lookup(digest) !== undefined) {
          present += 1;
          entry.resume();
          continue;
        }
        // Verified while it streams; only matching content reaches a final path.
        try {
          await core.pullThrough.blobs.putStream(digest, entry.header.size ?? undefined, entry as unknown as AsyncIterable<Buffer>, true);
        } catch (err) {
          if (!(err instanceof DigestMismatchError)) throw err;
          failures.push(`${name}: ${err.message}`);
        }
      } else entry.resume();
    }
  } catch (err) {
    if (err instanceof BundleError) throw err;
    throw new BundleError(`the bundle is unreadable or truncated: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!layout) throw new BundleError('not an OCI image layout: oci-layout is missing');
  if (failures.length > 0) throw new BundleError(`the bundle was tampered with or damaged; no tag was recorded:\n  ${failures.join('\n  ')}`);
  if (!index) throw new BundleError('not an OCI image layout: index.json is missing');
  return { blobs, present, bytes, tags: await recordTags(core, JSON.parse(index.toString('utf8')) as LayoutIndex) };
}

interface LayoutIndex {
  manifests?: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
}

/** Records each image's tag, manifests, pins and visibility, once every blob it needs is verified and present. */
async function recordTags(core: Core, index: LayoutIndex): Promise<Array<{ ref: string; digest: string }>> {
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
    const upstream = route.upstream.name;
    const repository = route.repository;
    const digests = await closure(core, top.digest, top.mediaType);
    for (const d of digests) {
      await core.pullThrough.blobs.pin(parseDigest(d));
      await core.metadata.addLink(visibilityLink(upstream, repository, route.upstream.private, d));
    }
    const tag = top.annotations?.[annotations.tag];
    if (tag) {
      await core.metadata.setTag(upstream, repository, tag, { digest: top.digest, mediaType: top.mediaType, size: top.size, checkedAt: Date.now() });
    }
    recorded.push({ ref: top.annotations?.[annotations.refName] ?? `${upstream}/${repository}@${top.digest}`, digest: top.digest });
  }
  return recorded;
}

/** Every digest an image needs, checking each is present and recording manifest media types. */
async function closure(core: Core, digest: string, mediaType: string): Promise<string[]> {
  const out: string[] = [];
  const pending: Array<{ digest: string; mediaType: string; manifest: boolean; child?: boolean }> = [{ digest, mediaType, manifest: true }];
  while (pending.length > 0) {
    const next = pending.pop()!;
    const parsed = parseDigest(next.digest);
    if (core.pullThrough.blobs.lookup(parsed) === undefined) {
      // An index may list platforms that were never exported; an image needs every one of its blobs.
      if (next.child) continue;
      throw new BundleError(`${next.digest} is referenced but not in the bundle`);
    }
    out.push(next.digest);
    if (!next.manifest) continue;
    // Bounded and hashed: a bundle naming a layer as a manifest must not have it read into memory.
    const body = await core.pullThrough.blobs.readSmall(parsed, manifestLimit, 'manifest');
    if (!body) throw new BundleError(`${next.digest} is referenced as a manifest but is not one in the cache (over ${manifestLimit} bytes, or gone)`);
    await core.metadata.setManifest(next.digest, { mediaType: next.mediaType || (declaredMediaType(body) ?? 'application/json'), size: body.length });
    const refs = referencesOf(body);
    for (const m of refs.manifests) pending.push({ digest: m.digest, mediaType: m.mediaType, manifest: true, child: true });
    for (const b of refs.blobs) pending.push({ digest: b.digest, mediaType: b.mediaType, manifest: false });
  }
  return out;
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
