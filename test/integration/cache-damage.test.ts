// Damaged cache files (a flipped byte, cut short, emptied, grown) under blobs/, for a layer, a small blob and a
// manifest, while tender runs and across a restart: no client ever gets a complete 200/206 whose bytes do not
// match, the damaged file is quarantined and counted, and the next request gets the right bytes from upstream.
import { appendFile, mkdtemp, open, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, sha256, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

type Damage = 'flip' | 'truncate' | 'empty' | 'longer';
type Kind = 'GET' | 'range' | 'HEAD';

interface Target {
  readonly name: 'manifest' | 'config' | 'layer';
  readonly digest: string;
  readonly bytes: Buffer;
}

interface Outcome {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** The body arrived whole (as long as its Content-Length) and the response ended cleanly. */
  readonly complete: boolean;
}

/** A GET or HEAD that records what arrived even when the response is cut off. */
async function fetchRecorded(url: string, init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string> } = {}): Promise<Outcome> {
  const res = await request(url, { method: init.method ?? 'GET', headers: init.headers ?? {} });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  const chunks: Buffer[] = [];
  let complete = true;
  try {
    for await (const chunk of res.body) chunks.push(chunk as Buffer);
  } catch {
    complete = false;
  }
  const body = Buffer.concat(chunks);
  if (headers['content-length'] !== undefined && init.method !== 'HEAD' && body.length !== Number(headers['content-length'])) complete = false;
  return { status: res.statusCode, headers, body, complete };
}

describeWithBinaries(['docker-registry'], 'damaged cache files are never served as complete responses', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let image: PushedImage;
  let cacheDir: string;
  let targets: Target[];

  const start = async (dir?: string) =>
    startTender({
      upstreams: { 'docker.io': registry.url },
      ...(dir ? { cacheDir: dir } : {}),
      // Nothing kept in memory, so every hit of a manifest or small blob reads (and checks) the file.
      settings: { manifestMemory: '1', blobMemory: '1', tagTtl: '1h' },
    });

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry, 'library/app', 'v1', { layerSizes: [3_000_000], seed: 'damage-app' });
    // The test's own directory: a tender that made its own would remove it at its first stop.
    cacheDir = await mkdtemp(join(tmpdir(), 'tender-damage-'));
    tender = await start(cacheDir);
    targets = [
      { name: 'manifest', digest: image.digest, bytes: image.manifest },
      { name: 'config', digest: image.config.digest, bytes: image.config.bytes },
      { name: 'layer', digest: image.layers[0]!.digest, bytes: image.layers[0]!.bytes },
    ];
    expect(image.layers[0]!.size).toBeGreaterThan(256 * 1024); // streamed from disk, not from small-blob memory
    expect(image.config.size).toBeLessThan(256 * 1024);
    await pullAll();
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  const pathOf = (digest: string) => join(cacheDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
  const urlOf = (target: Target) => `${tender.url}/v2/library/app/${target.name === 'manifest' ? 'manifests' : 'blobs'}/${target.digest}`;
  const accept = { accept: containerdAccept };

  /** A client pull: the manifest by tag, then config and layer; each must come back whole and right. */
  async function pullAll(): Promise<void> {
    const manifest = await http(`${tender.url}/v2/library/app/manifests/v1`, { headers: accept });
    expect(manifest.status).toBe(200);
    expect(sha256(manifest.body)).toBe(image.digest);
    for (const blob of [image.config, image.layers[0]!]) {
      const res = await http(`${tender.url}/v2/library/app/blobs/${blob.digest}`);
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(blob.digest);
    }
  }

  async function damage(target: Target, how: Damage): Promise<void> {
    const path = pathOf(target.digest);
    const size = (await stat(path)).size;
    if (how === 'flip') {
      const file = await open(path, 'r+');
      const at = Math.floor(size / 2);
      const byte = Buffer.alloc(1);
      await file.read(byte, 0, 1, at);
      byte[0] = byte[0]! ^ 0x01;
      await file.write(byte, 0, 1, at);
      await file.close();
    } else if (how === 'truncate') await truncate(path, Math.floor(size / 2));
    else if (how === 'empty') await truncate(path, 0);
    else await appendFile(path, Buffer.alloc(1000, 7));
  }

  /** The one thing that must hold for every response: complete and 200/206 means exactly the right bytes. */
  function expectNoCompleteWrongBody(target: Target, res: Outcome, range?: { start: number; end: number }): void {
    if (!res.complete || (res.status !== 200 && res.status !== 206)) return;
    const want = res.status === 206 && range ? target.bytes.subarray(range.start, range.end + 1) : target.bytes;
    expect(res.body.equals(want), `${target.name}: complete ${res.status} with ${res.body.length} bytes must be the right ones`).toBe(true);
  }

  async function request1(target: Target, kind: Kind): Promise<void> {
    if (kind === 'HEAD') {
      const res = await fetchRecorded(urlOf(target), { method: 'HEAD', headers: accept });
      expect(res.status, `${target.name} HEAD`).toBe(200);
      expect(res.headers['docker-content-digest']).toBe(target.digest);
      expect(Number(res.headers['content-length']), `${target.name} HEAD content-length`).toBe(target.bytes.length);
      return;
    }
    if (kind === 'range' && target.name !== 'manifest') {
      const range = { start: 100, end: Math.min(target.bytes.length - 1, 100_099) };
      const res = await fetchRecorded(urlOf(target), { headers: { range: `bytes=${range.start}-${range.end}` } });
      expectNoCompleteWrongBody(target, res, range);
      return;
    }
    // Manifests take no ranges: the "range" round reads this one by tag instead.
    const url = kind === 'range' ? `${tender.url}/v2/library/app/manifests/v1` : urlOf(target);
    expectNoCompleteWrongBody(target, await fetchRecorded(url, { headers: accept }));
  }

  /** GETs until a complete answer (at most twice): every attempt obeys the rule, the last one is right. */
  async function getUntilRight(target: Target): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetchRecorded(urlOf(target), { headers: accept });
      expectNoCompleteWrongBody(target, res);
      if (res.complete && res.status === 200) return;
      expect(attempt, `${target.name}: still no complete answer (status ${res.status}, ${res.body.length} bytes)`).toBeLessThan(2);
    }
  }

  async function corruptions(): Promise<number> {
    const text = await tender.metrics.registry.getSingleMetricAsString('tender_cache_corruptions_total');
    return [...text.matchAll(/^tender_cache_corruptions_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  const quarantined = async () => (await readdir(join(cacheDir, 'quarantine')).catch(() => [] as string[])).length;

  for (const restart of [false, true]) {
    for (const how of ['flip', 'truncate', 'empty', 'longer'] as const) {
      for (const kind of ['GET', 'range', 'HEAD'] as const) {
        it(`${how} ${restart ? 'while stopped (restart)' : 'while running'}, then ${kind}`, async () => {
          for (const target of targets) await damage(target, how);
          if (restart) {
            await tender.stop();
            tender = await start(cacheDir);
          }
          const quarantinedBefore = await quarantined();
          const corruptionsBefore = await corruptions();
          await registry.settle();
          registry.resetLog();

          // As a client pulls: the manifest first (a HEAD round reads it by tag, as containerd resolves), then the blobs.
          if (kind === 'HEAD') {
            const byTag = await fetchRecorded(`${tender.url}/v2/library/app/manifests/v1`, { headers: accept });
            expectNoCompleteWrongBody(targets[0]!, byTag);
          }
          for (const target of targets) await request1(target, kind);
          for (const target of targets) await getUntilRight(target);

          // Each damaged file was found, moved out of blobs/, counted, and fetched again from upstream once.
          expect(await quarantined()).toBe(quarantinedBefore + targets.length);
          expect(await corruptions()).toBe(corruptionsBefore + targets.length);
          await registry.settle();
          for (const target of targets) {
            const kindPath = target.name === 'manifest' ? 'manifests' : 'blobs';
            const gets = registry.requests().filter((r) => r.method === 'GET' && r.path.includes(`/${kindPath}/${target.digest}`)).length;
            const byTag = target.name === 'manifest' ? registry.requests().filter((r) => r.method === 'GET' && r.path.endsWith('/manifests/v1')).length : 0;
            expect(gets + byTag, `${target.name}: upstream GETs`).toBe(1);
            expect((await stat(pathOf(target.digest))).size, `${target.name}: the file is whole again`).toBe(target.bytes.length);
          }
          const logged = tender.logs.filter((l) => l.msg === 'cached copy is damaged; quarantined, fetched again on the next request');
          expect(new Set(logged.slice(-targets.length).map((l) => l.digest))).toEqual(new Set(targets.map((t) => t.digest)));
        });
      }
    }
  }

  it('after a restart, a cut-short layer asked for without its manifest is cut off before its end, then fetched again', async () => {
    const layer = targets[2]!;
    await damage(layer, 'truncate');
    await tender.stop();
    tender = await start(cacheDir);
    // The index now says the short size: only the hash can tell, so the response is cut before its last chunk.
    const first = await fetchRecorded(urlOf(layer));
    expect(first.complete).toBe(false);
    expect(first.body.length).toBeLessThan(layer.bytes.length);
    expect(first.body.equals(layer.bytes.subarray(0, first.body.length))).toBe(true);
    const second = await fetchRecorded(urlOf(layer));
    expect(second.complete).toBe(true);
    expect(second.body.equals(layer.bytes)).toBe(true);
  });

  it('after a restart, serves an intact cache without asking upstream and finds nothing damaged', async () => {
    await tender.stop();
    tender = await start(cacheDir);
    await registry.settle();
    registry.resetLog();
    for (let i = 0; i < 2; i++) await pullAll();
    await registry.settle();
    expect(registry.requests().filter((r) => r.method === 'GET')).toEqual([]);
    expect(await corruptions()).toBe(0);
  });
});
