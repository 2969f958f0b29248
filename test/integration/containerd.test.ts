// A real containerd (ctr, hosts.toml) pulls through tender with ?ns=; a fresh containerd then pulls with no upstream blob request.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { clientAuthSettings, CLIENT_USER, NODE_TOKEN, NODE_TOKEN_IDENTITY } from '../helpers/client-auth.js';
import { startContainerd, writeHostsToml, type ContainerdHandle } from '../helpers/containerd.js';
import { pushImage, pushIndex, type Platform, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { describeLines, requestLinesSince as linesSince } from '../helpers/request-lines.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

/** containerd 1.6's resolver Accept for a manifest by tag (remotes/docker/resolver.go). */
const CONTAINERD_RESOLVE_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  '*/*',
];

/** Nothing listens on the discard port: a request that bypassed tender would fail the pull. */
const DEAD_SERVER = 'http://127.0.0.1:9';

// ctr pulls (and unpacks) the host's platform by default; the single-platform images must match it.
const hostArchitecture = process.arch === 'arm64' ? 'arm64' : 'amd64';
const otherArchitecture = hostArchitecture === 'arm64' ? 'amd64' : 'arm64';
const hostPlatform: Platform = { os: 'linux', architecture: hostArchitecture };

interface RequestLine {
  method: string;
  path: string;
  status: number;
  result?: string;
  bytes?: number;
  upstream?: string;
  repository?: string;
  kind?: string;
}

describeWithBinaries(['containerd', 'ctr', 'docker-registry'], 'containerd (ctr + hosts.toml) through tender', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let containerd: ContainerdHandle | undefined;
  let hostsDir: string;
  let alpine: PushedImage;
  let api: PushedImage;
  let tool: PushedIndex;

  const refs = {
    alpine: 'docker.io/library/alpine-ish:3.20',
    api: 'registry.example.test/team/app/api:1.0',
    tool: 'registry.example.test/multi/tool:v1',
  };

  beforeAll(async () => {
    registry = await startRegistry();
    alpine = await pushImage(registry, 'library/alpine-ish', '3.20', { layerSizes: [400_000, 30_000], seed: 'ctr-alpine', platform: hostPlatform });
    api = await pushImage(registry, 'team/app/api', '1.0', { layerSizes: [150_000], seed: 'ctr-api', platform: hostPlatform, mediaType: 'docker' });
    tool = await pushIndex(registry, 'multi/tool', 'v1', {
      seed: 'ctr-tool',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      layerSizes: [120_000, 10_000],
    });
    tender = await startTender({ upstreams: { 'docker.io': registry.url, 'registry.example.test': registry.url } });
    hostsDir = await mkdtemp(join(tmpdir(), 'tender-hosts-'));
    for (const host of ['docker.io', 'registry.example.test']) await writeHostsToml(hostsDir, host, { server: DEAD_SERVER, mirror: tender.url });
    containerd = await startContainerd();
  });

  afterAll(async () => {
    await containerd?.stop();
    await tender?.stop();
    await registry?.stop();
    if (hostsDir) await rm(hostsDir, { recursive: true, force: true });
  });

  /** tender writes a request line when the response closes, which can trail ctr's exit by a moment. */
  async function requestLinesSince(mark: number): Promise<RequestLine[]> {
    let seen = -1;
    for (let i = 0; i < 40 && seen !== tender.logs.length; i++) {
      seen = tender.logs.length;
      await new Promise((r) => setTimeout(r, 50));
    }
    return tender.logs.slice(mark).filter((l) => l.msg === 'request') as unknown as RequestLine[];
  }

  async function pull(ref: string, opts: { allPlatforms?: boolean; httpDump?: boolean } = {}) {
    const mark = tender.logs.length;
    const result = await containerd!.pull(ref, { hostsDir, ...opts });
    return { ...result, lines: await requestLinesSince(mark) };
  }

  const imageFor = (architecture: string): PushedImage => {
    const image = tool.images.find((i) => JSON.parse(i.config.bytes.toString('utf8')).architecture === architecture);
    if (!image) throw new Error(`no ${architecture} image in the index`);
    return image;
  };
  const blobDigests = (image: PushedImage): string[] => [image.config, ...image.layers].map((b) => b.digest);
  const blobPaths = (lines: RequestLine[]): string[] => lines.filter((l) => l.path.includes('/blobs/')).map((l) => l.path);

  it('pulls docker.io/library/alpine-ish:3.20 through tender with ?ns=docker.io', async () => {
    const { stderr, lines } = await pull(refs.alpine, { httpDump: true });
    expect(await containerd!.imageDigest(refs.alpine)).toBe(alpine.digest);

    // Closing-note material: every request containerd sent tender for this pull.
    console.info(
      `tender request lines, first pull of ${refs.alpine} (snapshotter ${containerd!.snapshotter}):\n` +
        lines.map((l) => `  ${l.method} ${l.path} ${l.status} ${l.result ?? '-'} ${l.bytes ?? '-'}`).join('\n'),
    );

    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line.path).toMatch(/^\/v2\/library\/alpine-ish\/(manifests|blobs)\/[^?]+\?ns=docker\.io$/);
      expect(line.status).toBe(200);
      expect(line.upstream).toBe('docker.io');
      expect(line.repository).toBe('library/alpine-ish');
    }
    // Resolution is a HEAD of the tag (tender answers it with digest and length, so no GET of the tag follows).
    expect(lines[0]).toMatchObject({ method: 'HEAD', path: '/v2/library/alpine-ish/manifests/3.20?ns=docker.io', result: 'miss' });
    expect(lines.filter((l) => l.path.startsWith('/v2/library/alpine-ish/manifests/3.20')).map((l) => l.method)).toEqual(['HEAD']);
    expect(lines).toContainEqual(expect.objectContaining({ method: 'GET', path: `/v2/library/alpine-ish/manifests/${alpine.digest}?ns=docker.io` }));
    expect(new Set(blobPaths(lines))).toEqual(new Set(blobDigests(alpine).map((d) => `/v2/library/alpine-ish/blobs/${d}?ns=docker.io`)));
    for (const line of lines.filter((l) => l.path.includes('/blobs/'))) {
      expect(line.method).toBe('GET');
      expect(line.result).toBe('miss');
    }
    const sizes = new Map([alpine.config, ...alpine.layers].map((b) => [b.digest, b.size]));
    for (const line of lines.filter((l) => l.path.includes('/blobs/'))) expect(line.bytes).toBe(sizes.get(/sha256:[0-9a-f]{64}/.exec(line.path)![0]));

    // What containerd itself sent (ctr --http-dump): the HEAD of the tag with its resolver's Accept list.
    const head = dumpedRequest(stderr, 'HEAD', '/v2/library/alpine-ish/manifests/3.20?ns=docker.io');
    expect(head.accept?.split(',').map((s) => s.trim())).toEqual(CONTAINERD_RESOLVE_ACCEPT);
    expect(head['user-agent']).toMatch(/^containerd\//);
    expect(head.host).toBe(new URL(tender.url).host);

    const content = await containerd!.contentDigests();
    for (const digest of [alpine.digest, ...blobDigests(alpine)]) expect(content).toContain(digest);
  });

  it('pulls a nested repository of a made-up registry (registry.example.test/team/app/api:1.0) with ?ns=registry.example.test', async () => {
    const { lines } = await pull(refs.api);
    expect(await containerd!.imageDigest(refs.api)).toBe(api.digest);
    expect(lines[0]).toMatchObject({ method: 'HEAD', path: '/v2/team/app/api/manifests/1.0?ns=registry.example.test', status: 200 });
    for (const line of lines) {
      expect(line.path).toMatch(/^\/v2\/team\/app\/api\/(manifests|blobs)\/[^?]+\?ns=registry\.example\.test$/);
      expect(line).toMatchObject({ status: 200, upstream: 'registry.example.test', repository: 'team/app/api' });
    }
    expect(new Set(blobPaths(lines))).toEqual(new Set(blobDigests(api).map((d) => `/v2/team/app/api/blobs/${d}?ns=registry.example.test`)));
  });

  it('pulls a multi-arch index for the default platform, fetching only that platform', async () => {
    const { lines } = await pull(refs.tool);
    expect(await containerd!.imageDigest(refs.tool)).toBe(tool.digest);
    const mine = imageFor(hostArchitecture);
    expect(lines[0]).toMatchObject({ method: 'HEAD', path: '/v2/multi/tool/manifests/v1?ns=registry.example.test', status: 200 });
    const manifestGets = lines.filter((l) => l.method === 'GET' && l.path.includes('/manifests/')).map((l) => l.path);
    expect(new Set(manifestGets)).toEqual(new Set([tool.digest, mine.digest].map((d) => `/v2/multi/tool/manifests/${d}?ns=registry.example.test`)));
    expect(new Set(blobPaths(lines))).toEqual(new Set(blobDigests(mine).map((d) => `/v2/multi/tool/blobs/${d}?ns=registry.example.test`)));
    for (const line of lines) expect(line.status).toBe(200);
  });

  it('pulls the same index with --all-platforms, fetching (and unpacking) the other platform too', async () => {
    const { stdout, lines } = await pull(refs.tool, { allPlatforms: true });
    expect(stdout).toContain(`unpacking linux/${otherArchitecture}`);
    expect(await containerd!.imageDigest(refs.tool)).toBe(tool.digest);
    const other = imageFor(otherArchitecture);
    // containerd already holds this platform's content; only the other platform's is new.
    expect(new Set(blobPaths(lines))).toEqual(new Set(blobDigests(other).map((d) => `/v2/multi/tool/blobs/${d}?ns=registry.example.test`)));
    const content = await containerd!.contentDigests();
    for (const image of tool.images) for (const digest of [image.digest, ...blobDigests(image)]) expect(content).toContain(digest);
  });

  it('nothing bypassed tender: upstream saw only tender, never containerd', async () => {
    await registry.settle();
    const fromContainerd = registry.requests().filter((r) => r.userAgent.startsWith('containerd'));
    expect(fromContainerd).toEqual([]);
  });

  it('a fresh containerd pulls every image again with zero upstream blob requests, digests unchanged', async () => {
    await containerd!.stop();
    containerd = undefined;
    containerd = await startContainerd();
    await registry.settle();
    registry.resetLog();
    const mark = tender.logs.length;

    await containerd.pull(refs.alpine, { hostsDir });
    await containerd.pull(refs.api, { hostsDir });
    await containerd.pull(refs.tool, { hostsDir });
    await containerd.pull(refs.tool, { hostsDir, allPlatforms: true });

    expect(await containerd.imageDigest(refs.alpine)).toBe(alpine.digest);
    expect(await containerd.imageDigest(refs.api)).toBe(api.digest);
    expect(await containerd.imageDigest(refs.tool)).toBe(tool.digest);
    const content = await containerd.contentDigests();
    for (const image of [alpine, api, ...tool.images]) for (const digest of [image.digest, ...blobDigests(image)]) expect(content).toContain(digest);

    await registry.settle();
    expect(registry.count({ kind: 'blobs' })).toBe(0);
    // Manifests by digest are content-addressed too: local-first, never asked upstream again.
    expect(registry.requests().filter((r) => r.kind === 'manifests' && /\/manifests\/sha256:/.test(r.path))).toEqual([]);

    const lines = await requestLinesSince(mark);
    const blobLines = lines.filter((l) => l.path.includes('/blobs/'));
    expect(blobLines.length).toBe([alpine, api, ...tool.images].reduce((n, i) => n + blobDigests(i).length, 0));
    for (const line of blobLines) expect(line).toMatchObject({ method: 'GET', status: 200, result: 'hit' });
    for (const line of lines) expect(line.path).toMatch(/\?ns=(docker\.io|registry\.example\.test)$/);
  });
});

describeWithBinaries(['containerd', 'ctr', 'docker-registry', 'htpasswd'], 'containerd with client authentication (hosts.toml header, ctr --user)', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let containerd: ContainerdHandle | undefined;
  let work: string;
  let alpine: PushedImage;
  let api: PushedImage;
  const dirs = { header: '', bearer: '', none: '' };
  const refs = { alpine: 'docker.io/library/alpine-ish:3.20', api: 'registry.example.test/team/app/api:1.0' };
  const basic = `Basic ${Buffer.from(`${CLIENT_USER.username}:${CLIENT_USER.password}`).toString('base64')}`;

  beforeAll(async () => {
    registry = await startRegistry();
    alpine = await pushImage(registry, 'library/alpine-ish', '3.20', { layerSizes: [100_000], seed: 'ctr-auth-alpine', platform: hostPlatform });
    api = await pushImage(registry, 'team/app/api', '1.0', { layerSizes: [80_000], seed: 'ctr-auth-api', platform: hostPlatform });
    work = await mkdtemp(join(tmpdir(), 'tender-ctr-auth-'));
    tender = await startTender({ upstreams: { 'docker.io': registry.url, 'registry.example.test': registry.url }, settings: await clientAuthSettings(work) });
    for (const kind of ['header', 'bearer', 'none'] as const) {
      dirs[kind] = join(work, `hosts-${kind}`);
      const headers = kind === 'header' ? { authorization: basic } : kind === 'bearer' ? { authorization: `Bearer ${NODE_TOKEN.token}` } : undefined;
      for (const host of ['docker.io', 'registry.example.test']) await writeHostsToml(dirs[kind], host, { server: DEAD_SERVER, mirror: tender.url, headers });
    }
    containerd = await startContainerd();
  });

  afterAll(async () => {
    await containerd?.stop();
    await tender?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function pull(ref: string, hostsDir: string, user?: string) {
    const mark = tender.logs.length;
    await containerd!.pull(ref, { hostsDir, user });
    return (await linesSince(tender, mark)).filter((l) => l.path !== '/v2/');
  }

  it('without credentials the pull fails with 401 from tender (and the dead server behind it)', async () => {
    const mark = tender.logs.length;
    await expect(containerd!.pull(refs.api, { hostsDir: dirs.none })).rejects.toThrow(/401|unauthorized|authorization/i);
    const lines = await linesSince(tender, mark);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ status: 401, error: 'authentication required' });
  });

  it('an authorization header in hosts.toml authenticates every request to the mirror, Basic or Bearer', async () => {
    await registry.settle();
    registry.resetLog();
    const lines = await pull(refs.api, dirs.header);
    console.info(`tender request lines, ctr pull ${refs.api} with an authorization header in hosts.toml:\n${describeLines(lines)}`);
    expect(await containerd!.imageDigest(refs.api)).toBe(api.digest);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines)
      expect(line).toMatchObject({ status: 200, identity: CLIENT_USER.username, path: expect.stringMatching(/\?ns=registry\.example\.test$/) });
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET' })).toBe(1 + api.layers.length);

    const bearer = await pull(refs.alpine, dirs.bearer);
    expect(await containerd!.imageDigest(refs.alpine)).toBe(alpine.digest);
    for (const line of bearer) expect(line).toMatchObject({ status: 200, identity: NODE_TOKEN_IDENTITY });
  });

  it('ctr --user answers the challenge of the mirror; a fresh containerd pulls both again with zero upstream requests', async () => {
    await containerd!.stop();
    containerd = undefined;
    containerd = await startContainerd();
    await registry.settle();
    registry.resetLog();

    const user = await pull(refs.api, dirs.none, `${CLIENT_USER.username}:${CLIENT_USER.password}`);
    expect(await containerd.imageDigest(refs.api)).toBe(api.digest);
    expect(user.length).toBeGreaterThan(0);
    // containerd sends no credentials until challenged: the first request of each kind is a 401, then retried.
    expect(user.filter((l) => l.status === 200).every((l) => l.identity === CLIENT_USER.username)).toBe(true);
    expect(user.filter((l) => l.status !== 200).every((l) => l.status === 401)).toBe(true);
    expect(user.filter((l) => l.path.includes('/blobs/') && l.status === 200).length).toBe(1 + api.layers.length);

    const token = await pull(refs.alpine, dirs.none, `any:${NODE_TOKEN.token}`);
    expect(await containerd.imageDigest(refs.alpine)).toBe(alpine.digest);
    expect(token.filter((l) => l.status === 200).every((l) => l.identity === NODE_TOKEN_IDENTITY)).toBe(true);
    expect(token.filter((l) => l.path.includes('/blobs/') && l.status === 200).length).toBe(1 + alpine.layers.length);

    for (const line of [...user, ...token].filter((l) => l.path.includes('/blobs/') && l.status === 200)) expect(line.result).toBe('hit');
    await registry.settle();
    expect(registry.requests()).toEqual([]);
  });
});

/**
 * One request as printed by `ctr --http-dump` (logrus lines, one header per line, a blank msg
 * after the head), headers keyed in lower case.
 */
function dumpedRequest(stderr: string, method: string, path: string): Record<string, string> {
  const messages = stderr.split('\n').map((line) => /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1]);
  const start = messages.findIndex((m) => m === `${method} ${path} HTTP/1.1`);
  if (start === -1) throw new Error(`ctr --http-dump shows no "${method} ${path}"`);
  const headers: Record<string, string> = {};
  for (const message of messages.slice(start + 1)) {
    if (message === undefined) break; // the blank line after the head
    const colon = message.indexOf(': ');
    if (colon === -1) break;
    headers[message.slice(0, colon).toLowerCase()] = message.slice(colon + 2);
  }
  return headers;
}
