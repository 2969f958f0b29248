// A real podman (rootful, own storage and configuration) pulls through tender: registries.conf mirrors in prefix
// form and tender's host named in the image, without and with client authentication.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { clientAuthSettings, CLIENT_USER, NODE_TOKEN, NODE_TOKEN_IDENTITY } from '../helpers/client-auth.js';
import { startEgressProxy, type EgressProxyHandle } from '../helpers/egress-proxy.js';
import { pushImage, type Platform, type PushedImage } from '../helpers/images.js';
import { createPodman, type PodmanHandle } from '../helpers/podman.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { describeLines, requestLinesSince, type RequestLine } from '../helpers/request-lines.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

// podman pulls the host's platform.
const hostPlatform: Platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };

/** .test is reserved (RFC 2606): only the mirror can answer for this registry. */
const REGISTRY = 'registry.example.test';

/** registries.conf as in README "Client set-up" (CRI-O, podman, buildah, skopeo), one mirror per registry. */
function registriesConf(tenderHost: string, registries: string[]): string {
  const lines = ['unqualified-search-registries = []', 'short-name-mode = "enforcing"', ''];
  for (const registry of registries) {
    lines.push(
      '[[registry]]',
      `prefix = "${registry}"`,
      `location = "${registry}"`,
      '',
      '[[registry.mirror]]',
      `location = "${tenderHost}/${registry}"`,
      'insecure = true',
      '',
    );
  }
  return lines.join('\n');
}

describeWithBinaries(['docker-registry', 'podman', 'htpasswd'], 'podman through tender', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let tenderAuth: TenderHandle;
  let egress: EgressProxyHandle;
  let podman: PodmanHandle;
  let work: string;
  let conf: string;
  let confAuth: string;
  let alpine: PushedImage;
  let api: PushedImage;

  const host = (t: TenderHandle) => new URL(t.url).host;
  const refs = { alpine: 'docker.io/library/alpine-ish:3.20', api: `${REGISTRY}/team/app/api:1.0` };
  const blobCount = (image: PushedImage) => 1 + image.layers.length;

  beforeAll(async () => {
    registry = await startRegistry();
    alpine = await pushImage(registry, 'library/alpine-ish', '3.20', { layerSizes: [200_000, 20_000], seed: 'podman-alpine', platform: hostPlatform });
    api = await pushImage(registry, 'team/app/api', '1.0', { layerSizes: [100_000], seed: 'podman-api', platform: hostPlatform, mediaType: 'docker' });
    const upstreams = { 'docker.io': registry.url, [REGISTRY]: registry.url };
    work = await mkdtemp(join(tmpdir(), 'tender-podman-'));
    tender = await startTender({ upstreams });
    tenderAuth = await startTender({ upstreams, settings: await clientAuthSettings(work) });
    conf = join(work, 'registries.conf');
    await writeFile(conf, registriesConf(host(tender), ['docker.io', REGISTRY]));
    confAuth = join(work, 'registries-auth.conf');
    await writeFile(confAuth, registriesConf(host(tenderAuth), ['docker.io', REGISTRY]));
    egress = await startEgressProxy();
    podman = await createPodman({ proxy: egress.url });
  });

  afterAll(async () => {
    await podman?.remove();
    await egress?.stop();
    await tender?.stop();
    await tenderAuth?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function pull(t: TenderHandle, args: string[], opts: { registriesConf?: string; authFile?: string } = {}): Promise<RequestLine[]> {
    const mark = t.logs.length;
    await podman.podman(['pull', ...args], opts);
    return requestLinesSince(t, mark);
  }

  const registryLines = (lines: RequestLine[]) => lines.filter((l) => l.path !== '/v2/');

  it('pulls through registries.conf mirrors: /v2/<registry>/<name>/… with no ns, every answer 200', async () => {
    await registry.settle();
    registry.resetLog();
    const lines = [...(await pull(tender, [refs.alpine], { registriesConf: conf })), ...(await pull(tender, [refs.api], { registriesConf: conf }))];
    console.info(`tender request lines, podman pull ${refs.alpine} and ${refs.api} via registries.conf mirrors:\n${describeLines(lines)}`);

    expect(await podman.imageDigest(refs.alpine)).toBe(alpine.digest);
    expect(await podman.imageDigest(refs.api)).toBe(api.digest);
    const alpineLines = registryLines(lines).filter((l) => l.upstream === 'docker.io');
    const apiLines = registryLines(lines).filter((l) => l.upstream === REGISTRY);
    expect(alpineLines.length + apiLines.length).toBe(registryLines(lines).length);
    for (const line of alpineLines)
      expect(line).toMatchObject({
        status: 200,
        repository: 'library/alpine-ish',
        path: expect.stringMatching(/^\/v2\/docker\.io\/library\/alpine-ish\/(manifests|blobs)\/[^?]+$/),
      });
    for (const line of apiLines)
      expect(line).toMatchObject({
        status: 200,
        repository: 'team/app/api',
        path: expect.stringMatching(/^\/v2\/registry\.example\.test\/team\/app\/api\/(manifests|blobs)\/[^?]+$/),
      });
    expect(alpineLines).toContainEqual(expect.objectContaining({ method: 'GET', path: '/v2/docker.io/library/alpine-ish/manifests/3.20' }));

    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET', repository: 'library/alpine-ish' })).toBe(blobCount(alpine));
    expect(registry.count({ kind: 'blobs', method: 'GET', repository: 'team/app/api' })).toBe(blobCount(api));
    expect(egress.targets()).toEqual([]);
  });

  it("pulls with tender's host in the image name: a registry prefix, or none for the default upstream", async () => {
    const prefixed = `${host(tender)}/${REGISTRY}/team/app/api:1.0`;
    const bare = `${host(tender)}/library/alpine-ish:3.20`;
    const lines = [...(await pull(tender, ['--tls-verify=false', prefixed])), ...(await pull(tender, ['--tls-verify=false', bare]))];
    expect(await podman.imageDigest(prefixed)).toBe(api.digest);
    expect(await podman.imageDigest(bare)).toBe(alpine.digest);
    expect(registryLines(lines).map((l) => l.upstream)).toContain('docker.io');
    for (const line of registryLines(lines)) {
      expect(line.status).toBe(200);
      expect(line.path).toMatch(line.upstream === REGISTRY ? /^\/v2\/registry\.example\.test\/team\/app\/api\// : /^\/v2\/library\/alpine-ish\//);
    }
  });

  it('pulls everything again after removing every image with zero upstream requests and the same digests', async () => {
    await podman.removeAllImages();
    await registry.settle();
    registry.resetLog();
    const lines = [...(await pull(tender, [refs.alpine], { registriesConf: conf })), ...(await pull(tender, [refs.api], { registriesConf: conf }))];
    expect(await podman.imageDigest(refs.alpine)).toBe(alpine.digest);
    expect(await podman.imageDigest(refs.api)).toBe(api.digest);
    const blobGets = lines.filter((l) => l.method === 'GET' && l.path.includes('/blobs/'));
    expect(blobGets.length).toBe(blobCount(alpine) + blobCount(api));
    for (const line of blobGets) expect(line).toMatchObject({ status: 200, result: 'hit' });
    await registry.settle();
    expect(registry.requests()).toEqual([]);
  });

  it('with client auth: --creds are not sent to a registries.conf mirror (it gets empty Basic credentials), and podman falls back to the location', async () => {
    await podman.removeAllImages();
    egress.reset();
    const mark = tenderAuth.logs.length;
    const pulled = podman.podman(['pull', '--creds', `${CLIENT_USER.username}:${CLIENT_USER.password}`, refs.api], { registriesConf: confAuth });
    await expect(pulled).rejects.toThrow();
    const lines = await requestLinesSince(tenderAuth, mark);
    console.info(`tender request lines, podman pull --creds … ${refs.api} via a registries.conf mirror:\n${describeLines(lines)}`);
    expect(lines.length).toBeGreaterThan(0);
    // The /v2/ ping carries no credentials; the manifest request then carries an Authorization header
    // that is not alice's: containers/image's empty "Basic Og==" (base64 of ":").
    expect(lines.filter((l) => l.path === '/v2/')).toEqual([expect.objectContaining({ status: 401, error: 'authentication required' })]);
    expect(registryLines(lines).length).toBeGreaterThan(0);
    for (const line of registryLines(lines)) expect(line).toMatchObject({ status: 401, error: 'authentication required' });
    expect(lines.every((l) => l.identity === undefined)).toBe(true);
    expect(egress.targets()).toContain(`${REGISTRY}:443`);
  });

  it('with client auth: `podman login <tender>` writes an auth file that every mirror pull uses; a second pull sends nothing upstream', async () => {
    const authFile = join(work, 'podman-auth.json');
    await podman.podman(['login', '--tls-verify=false', '--username', CLIENT_USER.username, '--password-stdin', host(tenderAuth)], {
      authFile,
      input: CLIENT_USER.password,
    });
    // Keyed by tender's host:port, which is the mirror's host as containers/image looks credentials up.
    expect(Object.keys((JSON.parse(await readFile(authFile, 'utf8')) as { auths: object }).auths)).toEqual([host(tenderAuth)]);

    await registry.settle();
    registry.resetLog();
    egress.reset();
    const first = [
      ...(await pull(tenderAuth, [refs.alpine], { registriesConf: confAuth, authFile })),
      ...(await pull(tenderAuth, [refs.api], { registriesConf: confAuth, authFile })),
    ];
    expect(await podman.imageDigest(refs.alpine)).toBe(alpine.digest);
    expect(await podman.imageDigest(refs.api)).toBe(api.digest);
    expect(registryLines(first).length).toBeGreaterThan(0);
    for (const line of registryLines(first)) expect(line).toMatchObject({ status: 200, identity: CLIENT_USER.username });
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET' })).toBe(blobCount(alpine) + blobCount(api));

    await podman.removeAllImages();
    await registry.settle();
    registry.resetLog();
    await pull(tenderAuth, [refs.alpine], { registriesConf: confAuth, authFile });
    await pull(tenderAuth, [refs.api], { registriesConf: confAuth, authFile });
    expect(await podman.imageDigest(refs.alpine)).toBe(alpine.digest);
    expect(await podman.imageDigest(refs.api)).toBe(api.digest);
    await registry.settle();
    expect(registry.requests()).toEqual([]);
    expect(egress.targets()).toEqual([]);
  });

  it("with client auth: --creds work when tender's host is in the image name (a token as the password)", async () => {
    const prefixed = `${host(tenderAuth)}/${REGISTRY}/team/app/api:1.0`;
    const lines = await pull(tenderAuth, ['--tls-verify=false', '--creds', `ci:${NODE_TOKEN.token}`, prefixed]);
    expect(await podman.imageDigest(prefixed)).toBe(api.digest);
    for (const line of registryLines(lines)) expect(line).toMatchObject({ status: 200, identity: NODE_TOKEN_IDENTITY });
  });
});
