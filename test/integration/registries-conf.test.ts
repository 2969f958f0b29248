// skopeo with a registries.conf mirror in prefix form: /v2/<registry>/<name>/..., no ns, for a registry that does not resolve;
// its auth recipe (an auth file, not --creds) and `inspect --no-tags`.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { clientAuthSettings, CLIENT_USER } from '../helpers/client-auth.js';
import { startEgressProxy, type EgressProxyHandle } from '../helpers/egress-proxy.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { describeLines, requestLinesSince } from '../helpers/request-lines.js';
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

/** registries.conf as in README "Client set-up" (CRI-O, podman, buildah, skopeo). */
function registriesConf(tenderHost: string): string {
  return [
    'unqualified-search-registries = []',
    'short-name-mode = "enforcing"',
    '',
    '[[registry]]',
    `prefix = "${REGISTRY}"`,
    `location = "${REGISTRY}"`,
    '',
    '[[registry.mirror]]',
    `location = "${tenderHost}/${REGISTRY}"`,
    'insecure = true',
    '',
  ].join('\n');
}

describeWithBinaries(['docker-registry', 'skopeo', 'htpasswd'], 'skopeo with a registries.conf mirror (prefix form) through tender', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let tenderAuth: TenderHandle;
  let egress: EgressProxyHandle;
  let image: PushedImage;
  let work: string;
  let registriesConfPath: string;
  let registriesConfAuth: string;

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry, 'team/app/api', '1.0', { layerSizes: [250_000, 20_000], seed: 'registries-conf-api' });
    // docker.io first: it is the default upstream, so a prefix that failed to route would not reach REGISTRY.
    const upstreams = { 'docker.io': 'http://127.0.0.1:9', [REGISTRY]: registry.url };
    tender = await startTender({ upstreams });
    work = await mkdtemp(join(tmpdir(), 'tender-registries-conf-'));
    tenderAuth = await startTender({ upstreams, settings: await clientAuthSettings(work) });
    registriesConfPath = join(work, 'registries.conf');
    await writeFile(registriesConfPath, registriesConf(new URL(tender.url).host));
    registriesConfAuth = join(work, 'registries-auth.conf');
    await writeFile(registriesConfAuth, registriesConf(new URL(tenderAuth.url).host));
    egress = await startEgressProxy();
  });

  afterAll(async () => {
    await tender?.stop();
    await tenderAuth?.stop();
    await egress?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /**
   * skopeo with the test's own registries.conf (skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF), auth file
   * and HOME, and every connection that is not loopback sent to the refusing proxy.
   */
  async function skopeo(args: string[], opts: { conf?: string; authFile?: string; input?: string } = {}): Promise<{ stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(work, 'home'), HTTP_PROXY: egress.url, HTTPS_PROXY: egress.url };
    for (const name of ['NO_PROXY', 'no_proxy', 'http_proxy', 'https_proxy', 'XDG_RUNTIME_DIR', 'DOCKER_CONFIG', 'REGISTRY_AUTH_FILE']) delete env[name];
    if (opts.authFile) env.REGISTRY_AUTH_FILE = opts.authFile;
    const pending = run('skopeo', ['--registries-conf', opts.conf ?? registriesConfPath, ...args], { env, timeout: 60_000 });
    pending.child.stdin?.end(opts.input ?? '');
    try {
      return await pending;
    } catch (err) {
      const e = err as { stderr?: string; message?: string };
      throw new Error(`skopeo ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
    }
  }

  it(`copies docker://${REGISTRY}/team/app/api:1.0 via the mirror, asking /v2/${REGISTRY}/team/app/api/... with no ns`, async () => {
    await registry.settle();
    registry.resetLog();
    const mark = tender.logs.length;
    const into = join(work, 'layout');
    const source = `docker://${REGISTRY}/team/app/api:1.0`;
    await skopeo(['--insecure-policy', 'copy', '--preserve-digests', source, `oci:${into}:1.0`]);

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

  it('`skopeo inspect` through a mirror needs --no-tags: without it skopeo asks the real registry for the tag list', async () => {
    egress.reset();
    const mark = tender.logs.length;
    const source = `docker://${REGISTRY}/team/app/api:1.0`;
    await expect(skopeo(['inspect', source])).rejects.toThrow(/registry\.example\.test/);
    // The manifest came through the mirror; the tag list went to the location (here: the refusing proxy).
    const lines = (await requestLinesSince(tender, mark)).filter((l) => l.path !== '/v2/');
    expect(lines).toContainEqual(expect.objectContaining({ method: 'GET', path: `/v2/${REGISTRY}/team/app/api/manifests/1.0`, status: 200 }));
    expect(lines.filter((l) => l.path.includes('/tags/'))).toEqual([]);
    expect(egress.targets()).toContain(`${REGISTRY}:443`);

    egress.reset();
    const { stdout } = await skopeo(['inspect', '--no-tags', source]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(image.digest);
    expect(egress.targets()).toEqual([]);
  });

  it('with client auth: --src-creds are not sent to a registries.conf mirror (it gets the empty "Basic Og==")', async () => {
    egress.reset();
    const mark = tenderAuth.logs.length;
    const source = `docker://${REGISTRY}/team/app/api:1.0`;
    const copy = skopeo(
      ['--insecure-policy', 'copy', '--src-creds', `${CLIENT_USER.username}:${CLIENT_USER.password}`, source, `oci:${join(work, 'creds')}:1.0`],
      {
        conf: registriesConfAuth,
      },
    );
    await expect(copy).rejects.toThrow();
    const lines = (await requestLinesSince(tenderAuth, mark)).filter((l) => l.path !== '/v2/');
    console.info(`tender request lines, skopeo copy --src-creds … via a registries.conf mirror:\n${describeLines(lines)}`);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ status: 401, error: 'authentication required' });
    expect(lines.every((l) => l.identity === undefined)).toBe(true);
    // Then it falls back to the location.
    expect(egress.targets()).toContain(`${REGISTRY}:443`);
  });

  it('with client auth: the auth file of `skopeo login <tender>` works for mirror pulls, --authfile or REGISTRY_AUTH_FILE', async () => {
    const authFile = join(work, 'skopeo-auth.json');
    await skopeo(
      ['login', '--tls-verify=false', '--authfile', authFile, '--username', CLIENT_USER.username, '--password-stdin', new URL(tenderAuth.url).host],
      {
        conf: registriesConfAuth,
        input: CLIENT_USER.password,
      },
    );
    expect(Object.keys((JSON.parse(await readFile(authFile, 'utf8')) as { auths: object }).auths)).toEqual([new URL(tenderAuth.url).host]);

    await registry.settle();
    registry.resetLog();
    egress.reset();
    const mark = tenderAuth.logs.length;
    const source = `docker://${REGISTRY}/team/app/api:1.0`;
    await skopeo(['--insecure-policy', 'copy', '--preserve-digests', source, `oci:${join(work, 'authfile-env')}:1.0`], { conf: registriesConfAuth, authFile });
    await skopeo(['--insecure-policy', 'copy', '--preserve-digests', '--src-authfile', authFile, source, `oci:${join(work, 'authfile-flag')}:1.0`], {
      conf: registriesConfAuth,
    });
    for (const layout of ['authfile-env', 'authfile-flag']) {
      const index = JSON.parse(await readFile(join(work, layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      expect(index.manifests.map((m) => m.digest)).toEqual([image.digest]);
    }
    const lines = (await requestLinesSince(tenderAuth, mark)).filter((l) => l.path !== '/v2/');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ status: 200, identity: CLIENT_USER.username });
    // The second copy was served from tender's cache.
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'GET' })).toBe(1 + image.layers.length);
    expect(egress.targets()).toEqual([]);
  });
});
