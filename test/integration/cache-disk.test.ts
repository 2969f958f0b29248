// A cache disk that turns read-only or fills up under a running tender: uncached pulls are still served
// (never a 500), the failed writes are counted and logged once per interval, and /readyz says so until writes work again.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, sha256, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const accept = { accept: containerdAccept };

describeWithBinaries(['docker-registry'], 'a cache disk that stops taking writes', () => {
  let registry: RegistryHandle;
  let mounted: string | undefined;
  let tender: TenderHandle;
  let images: PushedImage[];
  let next = 0;

  beforeAll(async () => {
    registry = await startRegistry();
    images = [];
    for (let i = 0; i < 8; i++) images.push(await pushImage(registry, `team/app${i}`, 'v1', { layerSizes: [40_000], seed: `disk-${i}` }));
  });

  afterAll(async () => {
    await registry?.stop();
  });

  beforeEach(async (context) => {
    // A small tmpfs of its own: root ignores permissions, so read-only and full are made by the kernel.
    const dir = await mkdtemp(join(tmpdir(), 'tender-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
      mounted = dir;
    } catch {
      if (process.env.CI === 'true' || process.env.CI === '1') throw new Error('cannot mount a tmpfs: these tests need root');
      console.warn('skipping read-only/full disk tests: mounting a tmpfs needs root');
      return context.skip();
    }
    const cacheDir = join(dir, 'cache');
    await mkdir(cacheDir);
    tender = await startTender({ upstreams: { 'docker.io': registry.url }, cacheDir });
  });

  afterEach(async () => {
    await tender?.stop();
    if (mounted) execFileSync('umount', ['-l', mounted]);
    mounted = undefined;
  });

  /** Pulls an image as containerd does (HEAD the tag, GET by digest, config, layers): every answer 200 and right. */
  async function pull(image: PushedImage): Promise<void> {
    const base = `${tender.url}/v2/${image.repository}`;
    const head = await http(`${base}/manifests/v1`, { method: 'HEAD', headers: accept });
    expect(head.status, `HEAD ${image.repository}:v1 ${head.body.toString()}`).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(image.digest);
    const byTag = await http(`${base}/manifests/v1`, { headers: accept });
    expect(byTag.status, `GET ${image.repository}:v1 ${byTag.body.toString()}`).toBe(200);
    const byDigest = await http(`${base}/manifests/${image.digest}`, { headers: accept });
    expect(byDigest.status, `GET ${image.repository}@digest ${byDigest.body.toString()}`).toBe(200);
    expect(byDigest.body.equals(image.manifest)).toBe(true);
    for (const blob of [image.config, ...image.layers]) {
      const blobHead = await http(`${base}/blobs/${blob.digest}`, { method: 'HEAD' });
      expect(blobHead.status).toBe(200);
      const res = await http(`${base}/blobs/${blob.digest}`);
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(blob.digest);
    }
  }

  async function writeErrors(): Promise<Record<string, number>> {
    const text = await tender.metrics.registry.getSingleMetricAsString('tender_cache_write_errors_total');
    return Object.fromEntries([...text.matchAll(/kind="(\w+)"\} (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  }

  async function readiness(): Promise<{ status: number; problems: string[] }> {
    const res = await http(`${tender.url}/readyz`);
    return { status: res.status, problems: (JSON.parse(res.body.toString()) as { problems: string[] }).problems };
  }

  function serverErrors(): number {
    return tender.logs.filter((l) => l.msg === 'request' && Number(l.status) >= 500).length;
  }

  it('read-only: uncached manifests and blobs are served (no 500), writes counted, logged once per kind, /readyz 503 until it is writable again', async () => {
    const cached = images[next++]!;
    await pull(cached);
    expect((await readiness()).status).toBe(200);

    execFileSync('mount', ['-o', 'remount,ro', mounted!]);
    const uncached = [images[next++]!, images[next++]!];
    for (const image of uncached) {
      await pull(image);
      await pull(image); // still not cached: served from upstream (and memory) again
    }
    await pull(cached); // what is cached is still served from disk
    expect(serverErrors()).toBe(0);

    const errors = await writeErrors();
    expect(errors.metadata, 'tag records and visibility links').toBeGreaterThan(0);
    expect(errors.manifest, 'manifest records and bodies').toBeGreaterThan(0);
    expect(errors.blob, 'blob downloads').toBeGreaterThan(0);
    // Dozens of failed writes, one log line per kind in the interval.
    const lines = tender.logs.filter((l) => l.msg === 'cache write failed; serving without caching');
    expect(new Set(lines.map((l) => l.kind))).toEqual(new Set(['metadata', 'manifest', 'blob']));
    expect(lines).toHaveLength(3);
    // Node's recursive mkdir reports ENOENT on a read-only file system; file creation says EROFS.
    expect(lines.map((l) => String(l.err)).join('\n')).toContain('EROFS');
    expect(tender.logs.filter((l) => l.msg === 'unhandled error')).toEqual([]);

    const ready = await readiness();
    expect(ready.status).toBe(503);
    expect(ready.problems.join('\n')).toMatch(/cache directory does not take writes: .*EROFS/);

    execFileSync('mount', ['-o', 'remount,rw', mounted!]);
    await pull(images[next++]!); // writes work again: the next pull is cached, and the replica is ready
    expect((await readiness()).status).toBe(200);
    expect(tender.logs.some((l) => l.msg === 'cache writes succeed again')).toBe(true);
  });

  it('full: uncached pulls are served (no 500), ENOSPC counted, /readyz 503 until space is freed', async () => {
    await pull(images[next++]!);
    // Fill the disk: one file as large as it will grow.
    const filler = join(mounted!, 'filler');
    const file = await open(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) await file.write(chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await file.close();
    }

    const uncached = images[next++]!;
    await pull(uncached);
    expect(serverErrors()).toBe(0);
    const errors = await writeErrors();
    expect(errors.metadata! + errors.manifest! + errors.blob!).toBeGreaterThan(0);
    const ready = await readiness();
    expect(ready.status).toBe(503);
    expect(ready.problems.join('\n')).toMatch(/ENOSPC/);
    // Failed metadata writes leave no temp files behind.
    const meta = join(tender.cacheDir, 'meta');
    for (const shard of await readdir(meta)) expect((await readdir(join(meta, shard))).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    await rm(filler);
    await pull(images[next++]!);
    expect((await readiness()).status).toBe(200);
  });
});
