// The air-gap walkthrough end to end, as docs/air-gap.md tells an operator to run it: seed on the connected side,
// export a bundle, stop the upstream, import on the air-gapped side, serve offline (skopeo, containerd), sanctioned-only.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { describeRun, runTender, type CliResult } from '../helpers/cli.js';
import { startContainerd, writeHostsToml, type ContainerdHandle } from '../helpers/containerd.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, pushIndex, sha256, type Platform, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);

const upstreamName = 'registry.example.test';
const refs = {
  base: `${upstreamName}/team/base:1.0`,
  api: `${upstreamName}/team/app/api:2.1`,
  missing: `${upstreamName}/team/missing:0.1`,
  unlisted: `${upstreamName}/team/base:9.9`,
};

// containerd pulls (and unpacks) the host's platform: the single-platform image must match it.
const hostArchitecture = process.arch === 'arm64' ? 'arm64' : 'amd64';
const hostPlatform: Platform = { os: 'linux', architecture: hostArchitecture };

/** Tar entries of a bundle: name, where the content starts, and its size. */
function tarEntries(archive: Buffer): Array<{ name: string; offset: number; size: number }> {
  const entries: Array<{ name: string; offset: number; size: number }> = [];
  for (let at = 0; at + 512 <= archive.length;) {
    const header = archive.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('latin1')
        .replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = parseInt(field(124, 12).trim() || '0', 8);
    entries.push({ name, offset: at + 512, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/** The summary table's row for `ref` (the progress lines above it name the image too). */
function tableRow(stdout: string, ref: string): string[] | undefined {
  return stdout
    .split('\n')
    .map((l) => l.split(/\s+/))
    .find((cells) => (cells[0] === 'ok' || cells[0] === 'FAILED') && cells[1] === ref);
}

const errorsOf = (body: Buffer): Array<{ code: string; message: string; detail?: unknown }> =>
  (JSON.parse(body.toString('utf8')) as { errors: Array<{ code: string; message: string }> }).errors;

describeWithBinaries(['docker-registry', 'skopeo', 'containerd', 'ctr'], 'air gap: seed, export, import, serve offline, sanctioned-only', () => {
  let work: string;
  let registry: RegistryHandle | undefined;
  let registryUrl: string;
  let registryPort: number;
  let registryRoot: string;
  let base: PushedIndex;
  let api: PushedImage;
  let tender: TenderHandle | undefined;
  let containerd: ContainerdHandle | undefined;

  // Connected side.
  let connectedConfig: string;
  let listFile: string;
  let cacheA: string;
  let bundle: string;
  // Air-gapped side.
  let airgapConfig: string;
  let cacheB: string;

  const timings: Record<string, number> = {};
  const notes: string[] = [];
  let bundleSha = '';
  let bundleSize = 0;

  function expectExit(args: string[], result: CliResult, code: number): void {
    if (result.code !== code) throw new Error(`expected exit ${code}\n${describeRun(args, result)}`);
  }

  async function tender$(args: string[], code: number): Promise<CliResult> {
    const result = await runTender(args);
    expectExit(args, result, code);
    return result;
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tender-airgap-'));
    registry = await startRegistry();
    registryUrl = registry.url;
    registryPort = registry.port;
    registryRoot = registry.rootDir;
    base = await pushIndex(registry, 'team/base', '1.0', {
      seed: 'airgap-base',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      layerSizes: [1_500_000, 200_000],
    });
    api = await pushImage(registry, 'team/app/api', '2.1', { seed: 'airgap-api', platform: hostPlatform, layerSizes: [1_000_000, 40_000] });

    await mkdir(join(work, 'connected'));
    await mkdir(join(work, 'airgap'));
    cacheA = join(work, 'connected', 'cache');
    cacheB = join(work, 'airgap', 'cache');
    bundle = join(work, 'connected', 'bundle.tar');
    connectedConfig = join(work, 'connected', 'tender.yaml');
    listFile = join(work, 'connected', 'list.yaml');
    airgapConfig = join(work, 'airgap', 'tender.yaml');
    await writeFile(
      connectedConfig,
      [
        'includeDefaultUpstreams: false',
        `defaultUpstream: ${upstreamName}`,
        'upstreams:',
        `  ${upstreamName}:`,
        `    url: ${registryUrl}`,
        '    insecure: true',
        '',
      ].join('\n'),
    );
    await writeFile(listFile, ['images:', `  - ${refs.base}`, `  - ref: ${refs.api}`, `    platforms: [linux/${hostArchitecture}]`, ''].join('\n'));
    // The air-gapped side names the same upstream (requests route by it) but never dials it.
    await writeFile(
      airgapConfig,
      [
        'offline: true',
        'includeDefaultUpstreams: false',
        `defaultUpstream: ${upstreamName}`,
        'upstreams:',
        `  ${upstreamName}:`,
        `    url: ${registryUrl}`,
        '    insecure: true',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await containerd?.stop();
    await tender?.stop();
    await registry?.stop();
    if (registryRoot) await rm(registryRoot, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  // ---- 2. seed -------------------------------------------------------------------------------------

  it('seeds the list into cache A: exit 0 and a summary table with both images ok', async () => {
    await registry!.settle();
    registry!.resetLog();
    const args = ['seed', '--config', connectedConfig, '--cache-dir', cacheA, '--file', listFile];
    const result = await tender$(args, 0);
    timings.seed = result.ms;
    notes.push(`$ tender ${args.join(' ')}\n${result.stdout}`);

    expect(result.stdout).toMatch(/^status\s+image\s+digest\s+blobs\s+signatures\s+MB\s+fetched MB\s+s\s+error$/m);
    // status, image, digest, blobs (configs and layers), signatures (none here), MB
    expect(tableRow(result.stdout, refs.base)?.slice(0, 6)).toEqual(['ok', refs.base, base.digest, '6', '0', '3.4']);
    expect(tableRow(result.stdout, refs.api)?.slice(0, 6)).toEqual(['ok', refs.api, api.digest, '3', '0', '1.0']);
    expect(result.stdout).not.toMatch(/^FAILED/m);

    // Every blob of every platform came from upstream, once.
    await registry!.settle();
    const blobs = new Set([...base.images.flatMap((i) => [i.config, ...i.layers]), api.config, ...api.layers].map((b) => b.digest));
    expect(registry!.count({ kind: 'blobs', method: 'GET', status: 200 })).toBe(blobs.size);
  });

  it('seeding again is idempotent: exit 0, nothing fetched, no blob GET upstream', async () => {
    await registry!.settle();
    registry!.resetLog();
    const args = ['seed', '--config', connectedConfig, '--cache-dir', cacheA, '--file', listFile];
    const result = await tender$(args, 0);
    timings.reseed = result.ms;
    notes.push(`$ tender ${args.join(' ')}   # again\n${result.stdout}`);
    for (const ref of [refs.base, refs.api]) {
      const cells = tableRow(result.stdout, ref)!;
      expect(cells[0]).toBe('ok');
      expect(cells[6]).toBe('0.0'); // fetched MB
    }
    await registry!.settle();
    expect(registry!.count({ kind: 'blobs', method: 'GET' })).toBe(0);
    expect(registry!.count({ kind: 'blobs' })).toBe(0);
  });

  it('a list with an image that does not exist exits 1, naming the image and why', async () => {
    const badList = join(work, 'connected', 'bad-list.yaml');
    await writeFile(badList, ['images:', `  - ${refs.base}`, `  - ${refs.missing}`, ''].join('\n'));
    const args = ['seed', '--config', connectedConfig, '--cache-dir', cacheA, '--file', badList];
    const result = await tender$(args, 1);
    notes.push(`$ tender ${args.join(' ')}\n${result.stdout}${result.stderr}`);
    expect(tableRow(result.stdout, refs.missing)?.[0]).toBe('FAILED');
    expect(tableRow(result.stdout, refs.base)?.[0]).toBe('ok');
    expect(result.stderr).toContain(`1 image(s) failed: ${refs.missing} (`);
    expect(result.stderr).toMatch(/manifest unknown|MANIFEST_UNKNOWN|not found/i);
  });

  // ---- 3. export -----------------------------------------------------------------------------------

  it('exports the list into one OCI archive whose printed sha256 is sha256sum of the file', async () => {
    const args = ['export', '--config', connectedConfig, '--cache-dir', cacheA, '--file', listFile, '--output', bundle];
    const result = await tender$(args, 0);
    timings.export = result.ms;
    notes.push(`$ tender ${args.join(' ')}\n${result.stdout}`);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toContain(`exported ${refs.base} ${base.digest}`);
    expect(lines).toContain(`exported ${refs.api} ${api.digest}`);
    const printed = lines.at(-1)!;
    expect(printed).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { stdout } = await run('sha256sum', [bundle]);
    expect(`sha256:${stdout.split(/\s+/)[0]}`).toBe(printed);
    bundleSha = printed;
    bundleSize = (await stat(bundle)).size;
    // 4 manifests (team/base's index and its 2 children, team/app/api's) and 9 configs and layers.
    expect(lines.at(-2)).toMatch(new RegExp(`: 2 images, 13 blobs, \\d+ bytes$`));
  });

  it('export with no image named writes every cached tag (the failed image left none)', async () => {
    const all = join(work, 'connected', 'all.tar');
    const args = ['export', '--config', connectedConfig, '--cache-dir', cacheA, '--output', all];
    const result = await tender$(args, 0);
    notes.push(`$ tender ${args.join(' ')}\n${result.stdout}`);
    const exported = result.stdout.split('\n').filter((l) => l.startsWith('exported '));
    expect(exported).toEqual([`exported ${refs.api} ${api.digest}`, `exported ${refs.base} ${base.digest}`]);
    expect(result.stdout).toContain(': 2 images, 13 blobs, ');
  });

  it('skopeo reads the bundle directly: the index bytes are the pushed ones, and the nested image copies', async () => {
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci-archive:${bundle}:${refs.base}`]);
    expect(Buffer.from(stdout, 'utf8').equals(base.manifest)).toBe(true);
    const into = join(work, 'connected', 'skopeo-from-bundle');
    await run('skopeo', ['copy', '--preserve-digests', `oci-archive:${bundle}:${refs.api}`, `oci:${into}:2.1`], { timeout: 60_000 });
    const layout = JSON.parse(await readFile(join(into, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(layout.manifests[0]!.digest).toBe(api.digest);
    for (const blob of [api.config, ...api.layers]) expect(sha256(await readFile(join(into, 'blobs', 'sha256', blob.digest.slice(7))))).toBe(blob.digest);
  });

  // ---- 4. import -----------------------------------------------------------------------------------

  it('with the upstream stopped, imports the bundle into a fresh cache B', async () => {
    await registry!.stop({ keepRootDir: true });
    registry = undefined;
    // The air-gapped side checks the transferred file against the recorded sha256 first.
    const { stdout: sum } = await run('sha256sum', [bundle]);
    expect(`sha256:${sum.split(/\s+/)[0]}`).toBe(bundleSha);

    const args = ['import', '--config', airgapConfig, '--cache-dir', cacheB, bundle];
    const result = await tender$(args, 0);
    timings.import = result.ms;
    notes.push(`$ tender ${args.join(' ')}\n${result.stdout}`);
    expect(result.stdout).toContain(`imported ${refs.base} ${base.digest}`);
    expect(result.stdout).toContain(`imported ${refs.api} ${api.digest}`);
    expect(result.stdout).toMatch(/: 13 blobs verified and stored, 0 already cached \(skipped\), \d+ bytes, 2 images$/m);
  });

  it('importing again is idempotent: exit 0, every blob already cached', async () => {
    const args = ['import', '--config', airgapConfig, '--cache-dir', cacheB, bundle];
    const result = await tender$(args, 0);
    timings.reimport = result.ms;
    notes.push(`$ tender ${args.join(' ')}   # again\n${result.stdout}`);
    expect(result.stdout).toMatch(/: 0 blobs verified and stored, 13 already cached \(skipped\), \d+ bytes, 2 images$/m);
  });

  /** A tender serving `cacheDir` offline answers 404 MANIFEST_UNKNOWN for both tags: no tag was recorded. */
  async function expectNoTags(cacheDir: string): Promise<void> {
    const offline = await startTender({ upstreams: { [upstreamName]: registryUrl }, cacheDir, settings: { offline: true } });
    try {
      for (const [repository, tag] of [
        ['team/base', '1.0'],
        ['team/app/api', '2.1'],
      ] as const) {
        const res = await http(`${offline.url}/v2/${upstreamName}/${repository}/manifests/${tag}`, { headers: { accept: containerdAccept } });
        expect(res.status).toBe(404);
        expect(errorsOf(res.body)[0]!.code).toBe('MANIFEST_UNKNOWN');
      }
    } finally {
      await offline.stop();
    }
  }

  it('refuses a bundle with one flipped byte inside a layer blob, naming the blob, and records no tag', async () => {
    const archive = await readFile(bundle);
    const layer = base.images[0]!.layers[0]!;
    const entry = tarEntries(archive).find((e) => e.name === `blobs/sha256/${layer.digest.slice(7)}`);
    expect(entry?.size).toBe(layer.size);
    const flipAt = entry!.offset + Math.floor(entry!.size / 2);
    archive[flipAt] = archive[flipAt]! ^ 0x01;
    const tampered = join(work, 'airgap', 'tampered.tar');
    await writeFile(tampered, archive);

    const cacheC = join(work, 'airgap', 'cache-tampered');
    const args = ['import', '--config', airgapConfig, '--cache-dir', cacheC, tampered];
    const result = await tender$(args, 1);
    notes.push(`$ tender ${args.join(' ')}\n${result.stdout}${result.stderr}`);
    expect(result.stderr).toContain('tampered with or damaged; no tag was recorded');
    expect(result.stderr).toContain(`blobs/sha256/${layer.digest.slice(7)}`);
    expect(result.stdout).not.toContain('imported ');
    await expectNoTags(cacheC);
  });

  it('refuses a truncated bundle and records no tag', async () => {
    const truncated = join(work, 'airgap', 'truncated.tar');
    await copyFile(bundle, truncated);
    await truncate(truncated, Math.floor(bundleSize * 0.6));
    const cacheD = join(work, 'airgap', 'cache-truncated');
    const args = ['import', '--config', airgapConfig, '--cache-dir', cacheD, truncated];
    const result = await tender$(args, 1);
    notes.push(`$ tender ${args.join(' ')}\n${result.stdout}${result.stderr}`);
    expect(result.stderr).toMatch(/unreadable or truncated/);
    expect(result.stdout).not.toContain('imported ');
    await expectNoTags(cacheD);
  });

  // ---- 5. serve offline ----------------------------------------------------------------------------

  it('serves cache B offline: skopeo copy --all gives the pushed digests', async () => {
    tender = await startTender({ upstreams: { [upstreamName]: registryUrl }, cacheDir: cacheB, settings: { offline: true } });
    const into = join(work, 'airgap', 'skopeo-offline');
    const source = `docker://${new URL(tender.url).host}/${refs.base}`;
    const started = performance.now();
    await run('skopeo', ['copy', '--all', '--src-tls-verify=false', '--preserve-digests', source, `oci:${into}:1.0`], { timeout: 60_000 });
    timings.offlineSkopeoCopyAll = Math.round(performance.now() - started);
    const layout = JSON.parse(await readFile(join(into, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(layout.manifests[0]!.digest).toBe(base.digest);
    expect((await readFile(join(into, 'blobs', 'sha256', base.digest.slice(7)))).equals(base.manifest)).toBe(true);
    for (const image of base.images) {
      expect((await readFile(join(into, 'blobs', 'sha256', image.digest.slice(7)))).equals(image.manifest)).toBe(true);
      for (const blob of [image.config, ...image.layers]) expect(sha256(await readFile(join(into, 'blobs', 'sha256', blob.digest.slice(7))))).toBe(blob.digest);
    }
  });

  it('serves cache B offline: containerd pulls the nested image through hosts.toml (server = the dead upstream)', async () => {
    const hostsDir = join(work, 'airgap', 'certs.d');
    await writeHostsToml(hostsDir, upstreamName, { server: `http://127.0.0.1:${registryPort}`, mirror: tender!.url });
    containerd = await startContainerd();
    const started = performance.now();
    await containerd.pull(refs.api, { hostsDir });
    timings.offlineContainerdPull = Math.round(performance.now() - started);
    expect(await containerd.imageDigest(refs.api)).toBe(api.digest);
    const content = await containerd.contentDigests();
    for (const digest of [api.digest, api.config.digest, ...api.layers.map((l) => l.digest)]) expect(content).toContain(digest);
  });

  it('an image that was not seeded is 404 MANIFEST_UNKNOWN "offline ... not seeded", and nothing was dialled', async () => {
    const res = await http(`${tender!.url}/v2/${upstreamName}/team/missing/manifests/0.1`, { headers: { accept: containerdAccept } });
    expect(res.status).toBe(404);
    const error = errorsOf(res.body)[0]!;
    expect(error.code).toBe('MANIFEST_UNKNOWN');
    expect(error.message).toContain('offline');
    expect(error.message).toContain('not seeded');
    expect(error.message).toContain(`${upstreamName}/team/missing`);
    // As a client sees it.
    const inspect = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${new URL(tender!.url).host}/${refs.missing}`]).then(
      () => undefined,
      (err: { stderr?: string }) => err.stderr ?? '',
    );
    expect(inspect).toContain('not seeded');
    notes.push(`$ skopeo inspect docker://<tender>/${refs.missing}\n${inspect}`);
    // A blob that is not in the cache: same answer, no dial.
    const blob = await http(`${tender!.url}/v2/${upstreamName}/team/base/blobs/sha256:${'0'.repeat(64)}`);
    expect(blob.status).toBe(404);
    expect(errorsOf(blob.body)[0]!.code).toBe('BLOB_UNKNOWN');

    const upstreamRequests = await tender!.metrics.registry.getSingleMetric('tender_upstream_requests_total')!.get();
    expect(upstreamRequests.values).toEqual([]);
    await containerd?.stop();
    containerd = undefined;
    await tender!.stop();
    tender = undefined;
  });

  // ---- 6. sanctioned-only --------------------------------------------------------------------------

  /** Pulls the index, each child manifest and each blob of team/base:1.0 through `target`. */
  async function pullBase(target: TenderHandle): Promise<void> {
    const top = await http(`${target.url}/v2/${upstreamName}/team/base/manifests/1.0`, { headers: { accept: containerdAccept } });
    expect(top.status).toBe(200);
    expect(top.headers['docker-content-digest']).toBe(base.digest);
    for (const image of base.images) {
      const child = await http(`${target.url}/v2/${upstreamName}/team/base/manifests/${image.digest}`, { headers: { accept: containerdAccept } });
      expect(child.status).toBe(200);
      expect(child.body.equals(image.manifest)).toBe(true);
      for (const blob of [image.config, ...image.layers]) {
        const res = await http(`${target.url}/v2/${upstreamName}/team/base/blobs/${blob.digest}`);
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(blob.digest);
      }
    }
  }

  async function expectDenied(target: TenderHandle, path: string, reference: string): Promise<string> {
    const res = await http(`${target.url}/v2/${upstreamName}/${path}`, { headers: { accept: containerdAccept } });
    expect(res.status).toBe(403);
    const error = errorsOf(res.body)[0]!;
    expect(error.code).toBe('DENIED');
    expect(error.message).toContain(reference);
    expect(error.message).toContain('not in the sanctioned image list');
    return error.message;
  }

  it('sanctioned-only, offline on cache B: team/base:1.0 is served, team/app/api:2.1 is DENIED', async () => {
    tender = await startTender({
      upstreams: { [upstreamName]: registryUrl },
      cacheDir: cacheB,
      settings: { offline: true, sanctioned: { images: [refs.base] } },
    });
    await pullBase(tender);
    await expectDenied(tender, 'team/app/api/manifests/2.1', `${upstreamName}/team/app/api:2.1`);
    // By digest too, and its blobs: being cached is not being sanctioned.
    await expectDenied(tender, `team/app/api/manifests/${api.digest}`, api.digest);
    await expectDenied(tender, `team/app/api/blobs/${api.layers[0]!.digest}`, api.layers[0]!.digest);
    // A tag of the sanctioned repository that is not listed: DENIED, not "not seeded".
    await expectDenied(tender, 'team/base/manifests/9.9', `${upstreamName}/team/base:9.9`);

    const inspect = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${new URL(tender.url).host}/${refs.api}`]).then(
      () => undefined,
      (err: { stderr?: string }) => err.stderr ?? '',
    );
    expect(inspect).toContain('not in the sanctioned image list');
    notes.push(`$ skopeo inspect docker://<tender>/${refs.api}   # sanctioned-only\n${inspect}`);
    await tender.stop();
    tender = undefined;
  });

  it('sanctioned-only, online (upstream restarted, list from a file): an unlisted tag of the same repository is denied without asking upstream', async () => {
    registry = await startRegistry({ port: registryPort, rootDir: registryRoot });
    await pushImage(registry, 'team/base', '9.9', { seed: 'airgap-base-9.9', platform: hostPlatform, layerSizes: [20_000] });
    const sanctionedList = join(work, 'connected', 'sanctioned.yaml');
    await writeFile(sanctionedList, ['images:', `  - ${refs.base}`, ''].join('\n'));
    await registry.settle();
    registry.resetLog();
    tender = await startTender({ upstreams: { [upstreamName]: registry.url }, settings: { sanctioned: { file: sanctionedList } } });
    await pullBase(tender);
    const message = await expectDenied(tender, 'team/base/manifests/9.9', `${upstreamName}/team/base:9.9`);
    notes.push(`GET /v2/${upstreamName}/team/base/manifests/9.9 (sanctioned-only, online) -> 403 DENIED: ${message}`);
    await expectDenied(tender, 'team/app/api/manifests/2.1', `${upstreamName}/team/app/api:2.1`);
    await registry.settle();
    expect(registry.requests().filter((r) => r.path.includes('/manifests/9.9') || r.repository === 'team/app/api')).toEqual([]);
    expect(registry.count({ kind: 'manifests', repository: 'team/base' })).toBeGreaterThan(0);
  });

  // ---- 7. figures for the closing note -------------------------------------------------------------

  it('reports timings, bundle size and sha256', () => {
    const seconds = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
    console.info(
      [
        'air-gap walkthrough figures (CLI times are whole-process wall times, node + tsx start-up included):',
        `  seed (2 images, 3 manifests + index, 9 blobs):  ${seconds(timings.seed)}`,
        `  seed again (nothing fetched):                   ${seconds(timings.reseed)}`,
        `  export:                                         ${seconds(timings.export)}`,
        `  import into a fresh cache:                      ${seconds(timings.import)}`,
        `  import again (all already cached):              ${seconds(timings.reimport)}`,
        `  offline skopeo copy --all team/base:1.0:        ${seconds(timings.offlineSkopeoCopyAll)}`,
        `  offline containerd pull team/app/api:2.1:       ${seconds(timings.offlineContainerdPull)}`,
        `  bundle: ${bundleSize} bytes (${(bundleSize / 1e6).toFixed(2)} MB), ${bundleSha}`,
      ].join('\n'),
    );
    console.info(`air-gap walkthrough output:\n\n${notes.join('\n')}`);
    expect(bundleSha).toMatch(/^sha256:/);
  });
});
