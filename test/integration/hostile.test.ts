// Hostile requests (paths, ns values, host prefixes, methods, headers, queries) as raw bytes against tender in front of a real registry.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import {
  fillPlaceholders,
  hostileCorpus,
  ociCodes,
  pwnedMarker,
  rawExchange,
  type CorpusContext,
  type HostileCase,
  type RawResponse,
} from '../helpers/hostile-corpus.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, sha256, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle, type RegistryRequest } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

/** What a well-formed pull tender may send upstream: a GET or HEAD of a valid name and reference, nothing else. */
const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const upstreamPull = new RegExp(
  `^/v2/${component}(?:/${component})*/(?:manifests/(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})|blobs/(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})|tags/list|referrers/sha256:[a-f0-9]{64})(?:\\?.*)?$`,
);

/** Files and directories under `root` (relative path → content hash or "dir"), skipping `exclude`. */
async function snapshot(root: string, exclude: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (path === exclude) continue;
      if (entry.isDirectory()) {
        out.set(relative(root, path), 'dir');
        await walk(path);
      } else {
        out.set(
          relative(root, path),
          entry.isFile()
            ? createHash('sha256')
                .update(await readFile(path))
                .digest('hex')
            : 'other',
        );
      }
    }
  };
  await walk(root);
  return out;
}

/** Every path under `root`, relative, files only. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => relative(root, join(e.parentPath, e.name)));
}

async function waitFor(condition: () => Promise<boolean>, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return condition();
}

function codesOf(entry: HostileCase): ReadonlyArray<string | null> | undefined {
  if (entry.code === undefined) return undefined;
  return entry.code === null || typeof entry.code === 'string' ? [entry.code] : entry.code;
}

/** Spec shape for every error body tender writes; Node's own parser errors carry no body. */
function checkErrorBody(entry: HostileCase, res: RawResponse, head: boolean): void {
  if (res.status < 400) return;
  const codes = codesOf(entry);
  const fromTender = res.headers['x-request-id'] !== undefined;
  if (head || res.body.length === 0) {
    if (!head && fromTender) throw new Error(`tender answered ${res.status} without an error body`);
    if (!head && codes && !codes.includes(null)) throw new Error(`expected an OCI error body with ${codes.join('|')}, got none`);
    return;
  }
  const type = res.headers['content-type'] ?? '';
  if (!fromTender && !type.includes('json')) {
    if (codes && !codes.includes(null))
      throw new Error(`expected an OCI error body with ${codes.join('|')}, got ${type}: ${res.body.toString('latin1').slice(0, 200)}`);
    return;
  }
  expect(type, 'error content-type').toMatch(/^application\/json/);
  const parsed = JSON.parse(res.body.toString('utf8')) as unknown;
  expect(parsed, 'error body shape').toMatchObject({ errors: expect.any(Array) });
  const errors = (parsed as { errors: Array<Record<string, unknown>> }).errors;
  expect(errors.length, 'errors[] is not empty').toBeGreaterThan(0);
  for (const error of errors) {
    expect(ociCodes as readonly string[], `error code ${String(error.code)} is in the OCI table`).toContain(error.code);
    expect(typeof error.message, 'error message is a string').toBe('string');
  }
  if (codes) expect(codes, `error code (message: ${String(errors[0]?.message)})`).toContain(errors[0]?.code);
}

describeWithBinaries(['docker-registry'], 'hostile requests against tender in front of a real registry', () => {
  const corpus = hostileCorpus();
  const results: Array<{ group: string; name: string; status: number }> = [];
  /** Whether the previous entry ended with the upstream log settled (a failed entry may not have). */
  let settled = false;
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let app: PushedImage;
  let fresh: PushedImage;
  let outer: string;
  let jail: string;
  let cacheDir: string;
  let context: CorpusContext;
  let outerBefore: Map<string, string>;
  let tmpBefore: Set<string>;

  beforeAll(async () => {
    // outer/ holds the jail and a sibling; the jail holds the cache and decoys a traversal would aim at.
    outer = await mkdtemp(join(tmpdir(), 'tender-hostile-'));
    jail = join(outer, 'jail');
    cacheDir = join(jail, 'cache');
    await mkdir(join(outer, 'sibling', 'etc'), { recursive: true });
    await mkdir(join(jail, 'etc'), { recursive: true });
    await writeFile(join(outer, 'sibling', 'secret.txt'), 'sibling canary\n');
    await writeFile(join(outer, 'sibling', 'etc', 'passwd'), 'root:x:0:0:decoy:/root:/bin/sh\n');
    await writeFile(join(jail, 'canary.txt'), 'jail canary\n');
    await writeFile(join(jail, 'etc', 'passwd'), 'root:x:0:0:decoy:/root:/bin/sh\n');
    tmpBefore = new Set(await readdir(tmpdir()));

    registry = await startRegistry();
    app = await pushImage(registry, 'library/app', 'v1', { layerSizes: [300_000, 20_000], seed: 'hostile-app' });
    fresh = await pushImage(registry, 'team/fresh', '1.0', { layerSizes: [50_000], seed: 'hostile-fresh', mediaType: 'docker' });
    // Docker schema 2, for the Accept entries: the reference registry still down-converts it to schema 1 on request.
    await pushImage(registry, 'team/legacy', '1.0', { layerSizes: [10_000], seed: 'hostile-legacy', mediaType: 'docker' });
    tender = await startTender({
      upstreams: { 'docker.io': registry.url, 'registry.test': registry.url },
      defaultUpstream: 'docker.io',
      cacheDir,
      // Cached tags stay fresh for the whole run, so a cached answer must cost no upstream request at all.
      settings: { tagTtl: '1h' },
    });

    // Warm the cache with library/app:v1 (default upstream, no ns), as a client would pull it.
    const manifest = await http(`${tender.url}/v2/library/app/manifests/v1`, { headers: { accept: containerdAccept } });
    expect(manifest.status).toBe(200);
    expect(manifest.headers['docker-content-digest']).toBe(app.digest);
    for (const blob of [app.config, ...app.layers]) {
      const res = await http(`${tender.url}/v2/library/app/blobs/${blob.digest}`);
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(blob.digest);
    }
    const layer = app.layers[0]!;
    context = {
      tenderPort: tender.port,
      registryPort: registry.port,
      layer: layer.digest,
      layerSize: layer.size,
      manifest: app.digest,
      missing: sha256('tender hostile corpus: nothing has this'),
    };
    outerBefore = await snapshot(outer, cacheDir);
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (outer) await rm(outer, { recursive: true, force: true });
  });

  it(`has a corpus of at least 120 hostile requests (${corpus.length})`, () => {
    expect(corpus.length).toBeGreaterThanOrEqual(120);
    expect(new Set(corpus.map((c) => `${c.group}/${c.name}`)).size, 'entry names are unique').toBe(corpus.length);
  });

  for (const entry of corpus) {
    const title = `[${entry.group}] ${entry.name}`;
    if (entry.knownBug) {
      console.warn(`hostile corpus: skipping "${title}": known bug: ${entry.knownBug}`);
      it.skip(title, () => undefined);
      continue;
    }
    it(title, async () => {
      if (!settled) await registry.settle();
      settled = false;
      registry.resetLog();
      const logMark = tender.logs.length;
      const head = entry.raw.startsWith('HEAD ');
      const res = await rawExchange(tender.port, Buffer.from(fillPlaceholders(entry.raw, context), 'latin1'), { head });
      results.push({ group: entry.group, name: entry.name, status: res.status });
      const seen = `got ${res.status} ${res.reason}: ${res.body.toString('latin1').slice(0, 300)}`;

      // (1) no 5xx, and the status this input deserves.
      expect(res.status, seen).toBeLessThan(500);
      expect(typeof entry.status === 'number' ? [entry.status] : entry.status, seen).toContain(res.status);
      // (4) spec-shaped error bodies.
      checkErrorBody(entry, res, head);
      for (const name of Object.keys(res.headers)) expect(name, 'no injected response header').not.toMatch(/injected/);
      entry.check?.(res, context);

      // (2) denied, invalid or cached: upstream sees nothing. Allowed: only well-formed pulls.
      await registry.settle();
      settled = true;
      const upstream: RegistryRequest[] = registry.requests();
      const shown = upstream.map((r) => `${r.method} ${r.path} → ${r.status}`);
      if ((entry.upstream ?? 'none') === 'none') {
        expect(shown, 'upstream requests for a denied, invalid or cached request').toEqual([]);
      } else {
        for (const r of upstream) {
          expect(['GET', 'HEAD'], `upstream method of ${r.method} ${r.path}`).toContain(r.method);
          expect(r.path, 'upstream request is a well-formed pull').toMatch(upstreamPull);
        }
      }

      // No handler blew up behind a 4xx.
      const errors = tender.logs.slice(logMark).filter((l) => typeof l.level === 'number' && l.level >= 50);
      expect(
        errors.map((l) => `${String(l.msg)} ${JSON.stringify(l.err ?? l.error ?? '')}`),
        'error-level log lines',
      ).toEqual([]);
    });
  }

  it('(5) is still healthy afterwards and serves a legitimate pull', async () => {
    expect((await http(`${tender.url}/healthz`)).status).toBe(200);
    expect((await http(`${tender.url}/readyz`)).status).toBe(200);
    // The warmed image, from cache.
    const cached = await http(`${tender.url}/v2/library/app/manifests/v1`, { headers: { accept: containerdAccept } });
    expect(cached.status).toBe(200);
    expect(sha256(cached.body)).toBe(app.digest);
    // A first pull through the other upstream name, end to end.
    await registry.settle();
    registry.resetLog();
    const head = await http(`${tender.url}/v2/team/fresh/manifests/1.0?ns=registry.test`, { method: 'HEAD', headers: { accept: containerdAccept } });
    expect(head.status).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(fresh.digest);
    const manifest = await http(`${tender.url}/v2/team/fresh/manifests/${fresh.digest}?ns=registry.test`, { headers: { accept: containerdAccept } });
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(fresh.manifest)).toBe(true);
    for (const blob of [fresh.config, ...fresh.layers]) {
      const res = await http(`${tender.url}/v2/team/fresh/blobs/${blob.digest}?ns=registry.test`);
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(blob.digest);
    }
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET' })).toBe(1 + fresh.layers.length);
  });

  it('(6) answers every pipelined request received before a malformed one, in order, then the 400, then closes', async () => {
    const manifestPath = '/v2/library/app/manifests/v1';
    const ok = (target: string) => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${containerdAccept}\r\n\r\n`;
    const bytes = ok(manifestPath) + ok(`/v2/library/app/blobs/${app.config.digest}`) + 'GET /v2/ HTTP/1.1\r\nBad Header: 1\r\n\r\n' + ok('/v2/');
    const received = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: tender.port });
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connection not closed in time; got ${Buffer.concat(chunks).toString('latin1').slice(0, 500)}`));
      }, 10_000);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      socket.write(bytes);
    });
    const text = received.toString('latin1').toLowerCase();
    const statuses = [...text.matchAll(/http\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    // The two requests before the malformed one, then its 400; the one after it is never read.
    expect(statuses).toEqual([200, 200, 400]);
    expect(text).toContain(`docker-content-digest: ${app.digest}`);
    expect(text).toContain(`docker-content-digest: ${app.config.digest}`);
  });

  it('(3) wrote nothing outside the cache root, and nothing odd inside it', async () => {
    // Let any flight finish so tmp/ is judged at rest.
    expect(await waitFor(async () => (await readdir(join(cacheDir, 'tmp'))).length === 0), 'cache tmp/ drains').toBe(true);

    const top = await readdir(cacheDir);
    for (const name of top) expect(['blobs', 'tmp', 'meta', 'pins', 'inventory'], `cache top-level entry "${name}"`).toContain(name);
    expect(top).not.toContain('quarantine');
    for (const file of await filesUnder(cacheDir)) {
      expect(file, 'cache file layout').toMatch(
        /^(?:blobs\/(?:sha256\/[a-f0-9]{2}\/[a-f0-9]{64}|sha512\/[a-f0-9]{2}\/[a-f0-9]{128})|meta\/[a-f0-9]{2}\/[a-f0-9]{64}|inventory\/records\.jsonl|pins\/sha(?:256|512)\/[a-f0-9]+)$/,
      );
    }

    // The jail (cache's parent) and its parent: exactly what was there before, byte for byte.
    const outerAfter = await snapshot(outer, cacheDir);
    expect([...outerAfter.entries()].sort()).toEqual([...outerBefore.entries()].sort());

    // /tmp top level: other suites come and go, but nothing the corpus aimed at may appear.
    const added = (await readdir(tmpdir())).filter((name) => !tmpBefore.has(name));
    const suspicious = added.filter((name) => name.includes(pwnedMarker) || /passwd|meta-data|evil|injected|\.\./i.test(name));
    expect(suspicious, `new /tmp entries (all: ${added.join(', ') || 'none'})`).toEqual([]);
  });

  it('prints the corpus summary', () => {
    const byStatus = new Map<number, number>();
    for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    const distribution = [...byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${status === 0 ? 'closed' : status}×${n}`)
      .join(', ');
    const skipped = corpus.filter((c) => c.knownBug).length;
    const groups = [...new Set(corpus.map((c) => c.group))].map((g) => `${g} ${corpus.filter((c) => c.group === g).length}`).join(', ');
    if (process.env.HOSTILE_VERBOSE) for (const r of results) console.info(`${r.status}\t[${r.group}] ${r.name}`);
    console.info(
      `hostile corpus: ${corpus.length} requests (${groups}); ran ${results.length}, known-bug skipped ${skipped}; statuses: ${distribution}; 5xx: ${results.filter((r) => r.status >= 500).length}`,
    );
    expect(results.length + skipped).toBe(corpus.length);
  });
});
