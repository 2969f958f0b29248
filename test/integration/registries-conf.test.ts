// skopeo with a registries.conf mirror in prefix form: /v2/<registry>/<name>/..., no ns, for a registry that does not resolve.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);

/** .test is reserved (RFC 2606): only the mirror can answer for this registry. */
const REGISTRY = 'registry.example.test';

interface RequestLine {
  method: string;
  path: string;
  status: number;
  upstream?: string;
  repository?: string;
  result?: string;
}

describeWithBinaries(['docker-registry', 'skopeo'], 'skopeo with a registries.conf mirror (prefix form) through tender', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let image: PushedImage;
  let work: string;
  let registriesConf: string;

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry, 'team/app/api', '1.0', { layerSizes: [250_000, 20_000], seed: 'registries-conf-api' });
    // docker.io first: it is the default upstream, so a prefix that failed to route would not reach REGISTRY.
    tender = await startTender({ upstreams: { 'docker.io': 'http://127.0.0.1:9', [REGISTRY]: registry.url } });
    work = await mkdtemp(join(tmpdir(), 'tender-registries-conf-'));
    registriesConf = join(work, 'registries.conf');
    // As in README "Client set-up" (CRI-O, podman, buildah, skopeo).
    await writeFile(
      registriesConf,
      [
        'unqualified-search-registries = []',
        'short-name-mode = "enforcing"',
        '',
        '[[registry]]',
        `prefix = "${REGISTRY}"`,
        `location = "${REGISTRY}"`,
        '',
        '[[registry.mirror]]',
        `location = "${new URL(tender.url).host}/${REGISTRY}"`,
        'insecure = true',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it(`copies docker://${REGISTRY}/team/app/api:1.0 via the mirror, asking /v2/${REGISTRY}/team/app/api/... with no ns`, async () => {
    await registry.settle();
    registry.resetLog();
    const mark = tender.logs.length;
    const into = join(work, 'layout');
    const source = `docker://${REGISTRY}/team/app/api:1.0`;
    try {
      await run('skopeo', ['--registries-conf', registriesConf, '--insecure-policy', 'copy', '--preserve-digests', source, `oci:${into}:1.0`], {
        timeout: 60_000,
      });
    } catch (err) {
      const e = err as { stderr?: string; message?: string };
      throw new Error(`skopeo copy failed: ${e.message}\n${e.stderr ?? ''}`);
    }

    const layout = JSON.parse(await readFile(join(into, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(layout.manifests.map((m) => m.digest)).toEqual([image.digest]);
    expect((await readFile(join(into, 'blobs', 'sha256', image.digest.slice(7)))).equals(image.manifest)).toBe(true);
    for (const blob of [image.config, ...image.layers]) {
      expect((await readFile(join(into, 'blobs', 'sha256', blob.digest.slice(7)))).equals(blob.bytes)).toBe(true);
    }

    // tender writes a request line when the response closes, which can trail skopeo's exit.
    await new Promise((r) => setTimeout(r, 200));
    const lines = (tender.logs.slice(mark).filter((l) => l.msg === 'request') as unknown as RequestLine[]).filter((l) => l.path !== '/v2/');
    console.info(`tender request lines, skopeo copy of ${source}:\n` + lines.map((l) => `  ${l.method} ${l.path} ${l.status} ${l.result ?? '-'}`).join('\n'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line.path).toMatch(new RegExp(`^/v2/${REGISTRY.replace(/\./g, '\\.')}/team/app/api/(manifests|blobs)/[^?]+$`));
      expect(line.path).not.toContain('ns=');
      expect(line).toMatchObject({ status: 200, upstream: REGISTRY, repository: 'team/app/api' });
    }
    expect(lines).toContainEqual(expect.objectContaining({ method: 'GET', path: `/v2/${REGISTRY}/team/app/api/manifests/1.0` }));
    const blobPaths = new Set(lines.filter((l) => l.path.includes('/blobs/') && l.method === 'GET').map((l) => l.path));
    expect(blobPaths).toEqual(new Set([image.config, ...image.layers].map((b) => `/v2/${REGISTRY}/team/app/api/blobs/${b.digest}`)));

    // Upstream sees tender's plain repository name, each blob once.
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET', repository: 'team/app/api' })).toBe(1 + image.layers.length);
    expect(registry.requests().every((r) => r.repository === undefined || r.repository === 'team/app/api')).toBe(true);
  });
});
