// A real Docker Engine pulls through tender: registry-mirrors (Docker Hub only, no ns, no prefix) and a path
// prefix on tender's host, without and with client authentication, and what dockerd sends to a mirror.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { authFileJson, clientAuthSettings, CLIENT_USER, NODE_TOKEN, NODE_TOKEN_IDENTITY } from '../helpers/client-auth.js';
import { startDockerd, type DockerdHandle } from '../helpers/dockerd.js';
import { startEgressProxy, type EgressProxyHandle } from '../helpers/egress-proxy.js';
import { pushImage, type Platform, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { describeLines, requestLinesSince, type RequestLine } from '../helpers/request-lines.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

// dockerd pulls the host's platform.
const hostPlatform: Platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };

/** The key the docker CLI stores and looks up Docker Hub credentials under (registry.IndexServer). */
const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** Where dockerd goes when the mirror fails: Docker Hub's registry (registry.DefaultV2Registry). */
const DOCKER_HUB_REGISTRY = 'registry-1.docker.io:443';

describeWithBinaries(['docker-registry', 'dockerd', 'docker', 'containerd', 'ctr', 'htpasswd'], 'Docker Engine (dockerd) through tender', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let tenderAuth: TenderHandle;
  let egress: EgressProxyHandle;
  let dockerd: DockerdHandle;
  let work: string;
  let alpine: PushedImage;
  let api: PushedImage;

  const host = (t: TenderHandle) => new URL(t.url).host;
  const hubRef = 'alpine-ish:3.20';
  const prefixRef = (t: TenderHandle) => `${host(t)}/registry.example.test/team/app/api:1.0`;

  beforeAll(async () => {
    registry = await startRegistry();
    alpine = await pushImage(registry, 'library/alpine-ish', '3.20', {
      layerSizes: [200_000, 20_000],
      seed: 'dockerd-alpine',
      platform: hostPlatform,
      mediaType: 'docker',
    });
    api = await pushImage(registry, 'team/app/api', '1.0', { layerSizes: [100_000], seed: 'dockerd-api', platform: hostPlatform });
    const upstreams = { 'docker.io': registry.url, 'registry.example.test': registry.url };
    work = await mkdtemp(join(tmpdir(), 'tender-dockerd-'));
    // docker.io is the default upstream: registry-mirrors requests carry neither ns nor a prefix.
    tender = await startTender({ upstreams, defaultUpstream: 'docker.io' });
    tenderAuth = await startTender({ upstreams, defaultUpstream: 'docker.io', settings: await clientAuthSettings(work) });
    egress = await startEgressProxy();
    dockerd = await startDockerd({ registryMirrors: [tender.url], insecureRegistries: [host(tender)], proxy: egress.url });
  });

  afterAll(async () => {
    await dockerd?.stop();
    await egress?.stop();
    await tender?.stop();
    await tenderAuth?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function pull(t: TenderHandle, ref: string, configDir?: string): Promise<RequestLine[]> {
    const mark = t.logs.length;
    await dockerd.docker(['pull', ref], { configDir });
    return requestLinesSince(t, mark);
  }

  /** A docker CLI config directory holding exactly this config.json. */
  async function cliConfig(name: string, json: string): Promise<string> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), json);
    return dir;
  }

  const blobCount = (image: PushedImage) => 1 + image.layers.length;

  it('pulls a Docker Hub image through registry-mirrors: /v2/library/… with no ns and no prefix, served by the default upstream', async () => {
    await registry.settle();
    registry.resetLog();
    const lines = await pull(tender, hubRef);
    console.info(`tender request lines, docker pull ${hubRef} via registry-mirrors:\n${describeLines(lines)}`);

    expect(await dockerd.repoDigests(hubRef)).toEqual([`alpine-ish@${alpine.digest}`]);
    const registryLines = lines.filter((l) => l.path !== '/v2/');
    expect(registryLines.length).toBeGreaterThan(0);
    for (const line of registryLines) {
      expect(line.path).toMatch(/^\/v2\/library\/alpine-ish\/(manifests|blobs)\/[^?]+$/);
      expect(line).toMatchObject({ status: 200, upstream: 'docker.io', repository: 'library/alpine-ish' });
    }
    // dockerd 20.10 resolves the tag with a HEAD, then GETs the manifest by digest.
    expect(registryLines[0]).toMatchObject({ method: 'HEAD', path: '/v2/library/alpine-ish/manifests/3.20' });
    expect(registryLines).toContainEqual(expect.objectContaining({ method: 'GET', path: `/v2/library/alpine-ish/manifests/${alpine.digest}` }));
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET', repository: 'library/alpine-ish' })).toBe(blobCount(alpine));
    // The mirror answered: dockerd never fell back to Docker Hub.
    expect(egress.targets()).toEqual([]);
  });

  it("pulls another registry's image through a path prefix on tender's host (insecure-registries), and the default upstream through the bare host", async () => {
    await registry.settle();
    registry.resetLog();
    const lines = await pull(tender, prefixRef(tender));
    expect(await dockerd.repoDigests(prefixRef(tender))).toEqual([`${host(tender)}/registry.example.test/team/app/api@${api.digest}`]);
    for (const line of lines.filter((l) => l.path !== '/v2/')) {
      expect(line.path).toMatch(/^\/v2\/registry\.example\.test\/team\/app\/api\/(manifests|blobs)\/[^?]+$/);
      expect(line).toMatchObject({ status: 200, upstream: 'registry.example.test', repository: 'team/app/api' });
    }
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET', repository: 'team/app/api' })).toBe(blobCount(api));

    // <tender>/library/alpine-ish: no registry component, so the default upstream; already cached.
    const bare = `${host(tender)}/library/alpine-ish:3.20`;
    await pull(tender, bare);
    expect(await dockerd.repoDigests(bare)).toContain(`${host(tender)}/library/alpine-ish@${alpine.digest}`);
    expect(egress.targets()).toEqual([]);
  });

  it('pulls all of it again after removing every local image with zero upstream requests and the same digests', async () => {
    await dockerd.removeAllImages();
    await registry.settle();
    registry.resetLog();
    const lines = [...(await pull(tender, hubRef)), ...(await pull(tender, prefixRef(tender)))];
    expect(await dockerd.repoDigests(hubRef)).toEqual([`alpine-ish@${alpine.digest}`]);
    expect(await dockerd.repoDigests(prefixRef(tender))).toEqual([`${host(tender)}/registry.example.test/team/app/api@${api.digest}`]);
    const blobLines = lines.filter((l) => l.path.includes('/blobs/') && l.method === 'GET');
    expect(blobLines.length).toBe(blobCount(alpine) + blobCount(api));
    for (const line of blobLines) expect(line).toMatchObject({ status: 200, result: 'hit' });
    await registry.settle();
    expect(registry.requests()).toEqual([]);
  });

  it('with client auth: `docker login <tender>` serves the prefix form, but dockerd sends the mirror no credentials and falls back to Docker Hub', async () => {
    await dockerd.reconfigure({ registryMirrors: [tenderAuth.url], insecureRegistries: [host(tenderAuth)] });
    await dockerd.removeAllImages();
    const configDir = join(work, 'login-tender');
    await dockerd.docker(['login', '--username', CLIENT_USER.username, '--password-stdin', host(tenderAuth)], { configDir, input: CLIENT_USER.password });

    const prefixLines = await pull(tenderAuth, prefixRef(tenderAuth), configDir);
    expect(await dockerd.repoDigests(prefixRef(tenderAuth))).toEqual([`${host(tenderAuth)}/registry.example.test/team/app/api@${api.digest}`]);
    for (const line of prefixLines.filter((l) => l.path.includes('/api/'))) expect(line).toMatchObject({ status: 200, identity: CLIENT_USER.username });

    egress.reset();
    const mark = tenderAuth.logs.length;
    await expect(dockerd.docker(['pull', hubRef], { configDir })).rejects.toThrow();
    const mirrorLines = await requestLinesSince(tenderAuth, mark);
    console.info(`tender request lines, docker pull ${hubRef} via registry-mirrors after docker login ${host(tenderAuth)}:\n${describeLines(mirrorLines)}`);
    expect(mirrorLines.length).toBeGreaterThan(0);
    // No Authorization header at all ("authentication required", not "wrong credentials").
    for (const line of mirrorLines) expect(line).toMatchObject({ status: 401, error: 'authentication required' });
    expect(mirrorLines.every((l) => l.identity === undefined)).toBe(true);
    // Refused by the mirror, dockerd goes to Docker Hub itself (here: to the test's refusing proxy).
    expect(egress.targets()).toContain(DOCKER_HUB_REGISTRY);
  });

  it('with client auth: credentials stored for Docker Hub (a tender token under https://index.docker.io/v1/) reach the mirror; a second pull sends nothing upstream', async () => {
    await dockerd.removeAllImages();
    egress.reset();
    const configDir = await cliConfig('hub-entry', authFileJson({ [DOCKER_HUB_AUTH_KEY]: { username: 'docker-node', password: NODE_TOKEN.token } }));
    await registry.settle();
    registry.resetLog();

    const first = await pull(tenderAuth, hubRef, configDir);
    expect(await dockerd.repoDigests(hubRef)).toEqual([`alpine-ish@${alpine.digest}`]);
    const registryLines = first.filter((l) => l.path !== '/v2/');
    expect(registryLines.length).toBeGreaterThan(0);
    for (const line of registryLines) expect(line).toMatchObject({ status: 200, upstream: 'docker.io', identity: NODE_TOKEN_IDENTITY });
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET', repository: 'library/alpine-ish' })).toBe(blobCount(alpine));

    await dockerd.removeAllImages();
    await registry.settle();
    registry.resetLog();
    const second = await pull(tenderAuth, hubRef, configDir);
    expect(await dockerd.repoDigests(hubRef)).toEqual([`alpine-ish@${alpine.digest}`]);
    for (const line of second.filter((l) => l.path.includes('/blobs/')))
      expect(line).toMatchObject({ status: 200, result: 'hit', identity: NODE_TOKEN_IDENTITY });
    await registry.settle();
    expect(registry.requests()).toEqual([]);
    expect(egress.targets()).toEqual([]);
  });

  it('`docker login` to Docker Hub checks the credentials at Docker Hub, never at the mirror', async () => {
    egress.reset();
    const mark = tenderAuth.logs.length;
    const configDir = join(work, 'login-hub');
    const login = dockerd.docker(['login', '--username', CLIENT_USER.username, '--password-stdin'], { configDir, input: CLIENT_USER.password });
    await expect(login).rejects.toThrow();
    expect(await requestLinesSince(tenderAuth, mark)).toEqual([]);
    expect(egress.targets().length).toBeGreaterThan(0);
    console.info(`docker login (Docker Hub) went to: ${egress.targets().join(', ')}`);
  });
});
