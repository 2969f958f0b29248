// Manifests by digest: local first, verified before they are stored, served only as stored, and a record
// that cannot be read means "not cached".
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bodyOf, counter, coreUnderTest, routeTo } from './core-under-test.js';
import { eio } from './memory-metadata-store.js';
import { ScriptedUpstream } from './scripted-upstream.js';

const get = { accept: undefined, head: false };

async function setup() {
  const upstream = new ScriptedUpstream();
  const image = upstream.pushImage('team/app', 'v1', [randomBytes(2_000)]);
  const core = await coreUnderTest();
  const route = routeTo(upstream, 'team/app');
  return { upstream, image, core, route, manifest: (reference: string, request = get) => core.pullThrough.manifest(route, reference, request) };
}

describe('manifests by digest', () => {
  it('asks upstream once, then serves from memory, and after a restart from disk (hashed), never asking again', async () => {
    const s = await setup();
    expect(await s.manifest(s.image.digest)).toMatchObject({ result: 'miss', mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(await s.manifest(s.image.digest)).toMatchObject({ result: 'hit' });
    const restarted = await coreUnderTest({ shareWith: s.core });
    const answer = await restarted.pullThrough.manifest(s.route, s.image.digest, get);
    expect(answer.result).toBe('hit');
    expect(answer.body?.equals(s.image.manifest)).toBe(true);
    expect(s.core.store.reads.get(s.image.digest)).toBe(1);
    expect(s.upstream.count('getManifest')).toBe(1);
  });

  it('answers a HEAD of an uncached manifest with an upstream HEAD, never a GET', async () => {
    const s = await setup();
    expect(await s.manifest(s.image.digest, { accept: undefined, head: true })).toMatchObject({
      result: 'miss',
      size: s.image.manifest.length,
      body: undefined,
    });
    expect(s.upstream.calls.map((c) => c.method)).toEqual(['headManifest']);
  });

  it('refuses an upstream manifest that does not match its digest, and stores nothing', async () => {
    const s = await setup();
    s.upstream.tamper('team/app', s.image.digest, Buffer.from('{"schemaVersion":2}'));
    await expect(s.manifest(s.image.digest)).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
    expect(s.core.pullThrough.cachedSize(s.image.digest)).toBeUndefined();
    expect(await counter(s.core.metrics, 'tender_digest_mismatches_total', { kind: 'manifest' })).toBe(1);
  });

  it('never serves a cached blob as a manifest: upstream is asked, and its answer stands', async () => {
    const s = await setup();
    await bodyOf(await s.core.pullThrough.blob(s.route, s.image.config, { head: false }));
    await expect(s.manifest(s.image.config)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(s.upstream.count('getManifest', s.image.config)).toBe(1);
  });

  it('treats a manifest record it cannot read as "not cached": fetched again (never a 500), and counted', async () => {
    const s = await setup();
    await s.manifest(s.image.digest);
    const restarted = await coreUnderTest({ shareWith: s.core });
    restarted.metadata.readFailure = eio();
    expect(await restarted.pullThrough.manifest(s.route, s.image.digest, get)).toMatchObject({ result: 'miss', digest: s.image.digest });
    expect(await counter(restarted.metrics, 'tender_cache_read_errors_total', { kind: 'manifest' })).toBe(1);
  });

  it('drops a cached manifest whose file changed length on disk, and fetches it again', async () => {
    const s = await setup();
    await s.manifest(s.image.digest);
    s.core.store.damage(s.image.digest, Buffer.concat([s.image.manifest, Buffer.from(' ')]));
    const restarted = await coreUnderTest({ shareWith: s.core });
    expect(await restarted.pullThrough.manifest(s.route, s.image.digest, get)).toMatchObject({ result: 'miss' });
    expect(await counter(restarted.metrics, 'tender_cache_corruptions_total', { kind: 'manifest', reason: 'size' })).toBe(1);
  });
});
