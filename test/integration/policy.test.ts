// Policies against a real upstream: allow/deny lists, private content, immutable and pinned tags, client auth.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, sha256, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);

const errorOf = (body: Buffer) => (JSON.parse(body.toString()) as { errors: Array<{ code: string; message: string }> }).errors[0]!;

describeWithBinaries(['docker-registry'], 'repository allow and deny lists', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let allowed: PushedImage;
  let secret: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    allowed = await pushImage(registry, 'team/app/api', 'v1', { layerSizes: [1000], seed: 'allowed' });
    secret = await pushImage(registry, 'team/secret/vault', 'v1', { layerSizes: [1000], seed: 'secret' });
    await pushImage(registry, 'other/thing', 'v1', { layerSizes: [1000], seed: 'other' });
    tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: { upstreams: { 'registry.test': { url: registry.url, insecure: true, allow: ['library/*', 'team/**'], deny: ['team/secret/**'] } } },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  it('serves allowed repositories and refuses the rest on every route, naming the rule, without asking upstream', async () => {
    const ok = await http(`${tender.url}/v2/team/app/api/manifests/v1?ns=registry.test`, { headers: { accept: containerdAccept } });
    expect(ok.status).toBe(200);
    expect(ok.headers['docker-content-digest']).toBe(allowed.digest);

    await registry.settle();
    registry.resetLog();
    const refused: Array<[string, string]> = [
      [`/v2/other/thing/manifests/v1?ns=registry.test`, 'not in the allow list of registry.test'],
      [`/v2/registry.test/other/thing/tags/list`, 'not in the allow list'],
      [`/v2/team/secret/vault/manifests/v1?ns=registry.test`, 'deny rule "team/secret/**"'],
      [`/v2/team/secret/vault/blobs/${secret.layers[0]!.digest}?ns=registry.test`, 'deny rule "team/secret/**"'],
      [`/v2/team/secret/vault/referrers/${secret.digest}?ns=registry.test`, 'deny rule'],
    ];
    for (const [path, message] of refused) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await http(`${tender.url}${path}`, { method, headers: { accept: containerdAccept } });
        expect(res.status, `${method} ${path}`).toBe(403);
        if (method === 'GET') {
          expect(errorOf(res.body).code).toBe('DENIED');
          expect(errorOf(res.body).message).toContain(message);
        }
      }
    }
    await registry.settle();
    expect(registry.count({})).toBe(0);
    const metrics = await tender.metrics.registry.getSingleMetricAsString('tender_denials_total');
    expect(metrics).toMatch(/upstream="registry.test",reason="deny-rule"\} 6/);
    expect(metrics).toMatch(/upstream="registry.test",reason="not-allowed"\} 4/);
  });
});

describeWithBinaries(['docker-registry', 'htpasswd'], 'a private upstream (htpasswd) and cross-repository visibility', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let image: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { username: 'puller', password: 'upstream-pass-1' } });
    image = await pushImage(registry, 'acme/private', 'v1', { layerSizes: [50_000], seed: 'private' });
    tender = await startTender({
      upstreams: { 'private.test': registry.url, 'public.test': registry.url },
      settings: {
        upstreams: {
          'private.test': { url: registry.url, insecure: true, username: 'puller', password: 'upstream-pass-1' },
          // The same registry reached anonymously, as a public upstream would be.
          'public.test': { url: registry.url, insecure: true },
        },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  const layer = () => image.layers[0]!;

  it('pulls with the configured credentials', async () => {
    const res = await http(`${tender.url}/v2/private.test/acme/private/blobs/${layer().digest}`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(layer().digest);
  });

  it('does not serve a cached private digest to a repository that does not hold it, nor through a public upstream', async () => {
    const other = await http(`${tender.url}/v2/private.test/acme/other/blobs/${layer().digest}`);
    expect(other.status).toBe(404);
    expect(errorOf(other.body).code).toBe('BLOB_UNKNOWN');
    const manifest = await http(`${tender.url}/v2/private.test/acme/other/manifests/${image.digest}`, { headers: { accept: containerdAccept } });
    expect(manifest.status).toBe(404);
    const viaPublic = await http(`${tender.url}/v2/public.test/acme/private/blobs/${layer().digest}`);
    expect(viaPublic.status).toBe(403);
    expect(viaPublic.body.length).toBeGreaterThan(0);
    expect(sha256(viaPublic.body)).not.toBe(layer().digest);
  });

  it('serves it once upstream confirms the repository holds it, and remembers that', async () => {
    // The same layer pushed into a second repository (the registry mounts it there).
    await pushImage(registry, 'acme/other', 'v1', { layerSizes: [50_000], seed: 'private' });
    await registry.settle();
    registry.resetLog();
    const first = await http(`${tender.url}/v2/private.test/acme/other/blobs/${layer().digest}`);
    expect(sha256(first.body)).toBe(layer().digest);
    const again = await http(`${tender.url}/v2/private.test/acme/other/blobs/${layer().digest}`);
    expect(sha256(again.body)).toBe(layer().digest);
    await registry.settle();
    expect(registry.count({ kind: 'blobs', method: 'HEAD', status: 200 })).toBe(1);
    expect(registry.count({ kind: 'blobs', method: 'GET' })).toBe(0);
  });
});

describeWithBinaries(['docker-registry'], 'tag immutability and pins against a tag overwritten upstream', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let first: PushedImage;
  let second: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    first = await pushImage(registry, 'team/app', 'v1.0', { layerSizes: [1000], seed: 'first' });
    await pushImage(registry, 'team/app', 'latest', { layerSizes: [1000], seed: 'first' });
    await pushImage(registry, 'team/app', 'stable', { layerSizes: [1000], seed: 'second-stable' });
    tender = await startTender({
      upstreams: { 'enforce.test': registry.url, 'warn.test': registry.url },
      settings: {
        tagTtl: '1h',
        upstreams: {
          'enforce.test': { url: registry.url, insecure: true, immutableTags: ['v*'], pins: [`team/app:stable@${first.digest}`] },
          'warn.test': { url: registry.url, insecure: true, immutableTags: ['team/*:v*'], immutableTagsMode: 'warn' },
        },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  const digestOf = async (upstream: string, tag: string) =>
    (await http(`${tender.url}/v2/${upstream}/team/app/manifests/${tag}`, { headers: { accept: containerdAccept } })).headers['docker-content-digest'];

  it('keeps serving the first digest of an immutable tag after upstream overwrites it, logging both digests', async () => {
    expect(await digestOf('enforce.test', 'v1.0')).toBe(first.digest);
    expect(await digestOf('warn.test', 'v1.0')).toBe(first.digest);
    expect(await digestOf('enforce.test', 'latest')).toBe(first.digest);
    second = await pushImage(registry, 'team/app', 'v1.0', { layerSizes: [1000], seed: 'overwritten' });
    await pushImage(registry, 'team/app', 'latest', { layerSizes: [1000], seed: 'overwritten' });
    tender.advance(60 * 60 * 1000); // past the tag TTL

    expect(await digestOf('enforce.test', 'v1.0')).toBe(first.digest);
    // A tag that is not immutable follows upstream; warn mode follows too, but says so.
    expect(await digestOf('enforce.test', 'latest')).toBe(second.digest);
    expect(await digestOf('warn.test', 'v1.0')).toBe(second.digest);

    const logged = tender.logs.filter((l) => String(l.msg).startsWith('immutable tag moved upstream'));
    expect(logged.map((l) => [l.upstream, l.kept, l.upstream_digest, l.mode])).toEqual([
      ['enforce.test', first.digest, second.digest, 'enforce'],
      ['warn.test', first.digest, second.digest, 'warn'],
    ]);
    const counted = await tender.metrics.registry.getSingleMetricAsString('tender_tag_changes_refused_total');
    expect(counted).toMatch(/upstream="enforce.test",mode="enforce"\} 1/);
    expect(counted).toMatch(/upstream="warn.test",mode="warn"\} 1/);
  });

  it('serves exactly the pinned digest for a pinned tag, whatever upstream says', async () => {
    await registry.settle();
    registry.resetLog();
    expect(await digestOf('enforce.test', 'stable')).toBe(first.digest);
    await registry.settle();
    expect(registry.requests().filter((r) => r.path.includes('/manifests/stable'))).toEqual([]);
  });
});

describeWithBinaries(['docker-registry', 'htpasswd', 'skopeo'], 'client authentication', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let image: PushedImage;
  let dir: string | undefined;
  const robot = 'robot-token-0123456789abcdef';

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry, 'team/app', 'v1', { layerSizes: [1000], seed: 'auth' });
    await pushImage(registry, 'library/other', 'v1', { layerSizes: [1000], seed: 'auth-other' });
    dir = await mkdtemp(join(tmpdir(), 'tender-auth-'));
    const users = await Promise.all([run('htpasswd', ['-Bbn', 'alice', 'alice-pass']), run('htpasswd', ['-Bbn', 'bob', 'bob-pass'])]);
    await writeFile(join(dir, 'htpasswd'), users.map((u) => u.stdout.trim()).join('\n'));
    tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: {
        auth: {
          realm: 'tender-test',
          htpasswd: join(dir, 'htpasswd'),
          users: { bob: ['registry.test/team/**'] },
          tokens: [{ name: 'ci', token: robot, repositories: ['registry.test/library/*'] }],
          protect: ['metrics'],
        },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

  it('challenges anonymous and wrong credentials with 401 and a Basic realm', async () => {
    for (const headers of [{}, basic('alice', 'wrong'), basic('mallory', 'x'), { authorization: 'Bearer nope' }]) {
      const res = await http(`${tender.url}/v2/`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="tender-test"');
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
      expect(errorOf(res.body).code).toBe('UNAUTHORIZED');
    }
    const manifest = await http(`${tender.url}/v2/registry.test/team/app/manifests/v1`);
    expect(manifest.status).toBe(401);
  });

  it('lets each identity pull only its repositories', async () => {
    const url = (repo: string) => `${tender.url}/v2/registry.test/${repo}/manifests/v1`;
    const cases: Array<[Record<string, string>, string, number]> = [
      [basic('alice', 'alice-pass'), 'team/app', 200],
      [basic('alice', 'alice-pass'), 'library/other', 200],
      [basic('bob', 'bob-pass'), 'team/app', 200],
      [basic('bob', 'bob-pass'), 'library/other', 403],
      [{ authorization: `Bearer ${robot}` }, 'library/other', 200],
      [basic('any-user', robot), 'library/other', 200],
      [{ authorization: `Bearer ${robot}` }, 'team/app', 403],
    ];
    for (const [headers, repo, status] of cases) {
      const res = await http(url(repo), { headers: { ...headers, accept: containerdAccept } });
      expect(res.status, `${headers.authorization} ${repo}`).toBe(status);
      if (status === 403) expect(errorOf(res.body).message).toMatch(/may not pull registry\.test\//);
    }
  });

  it('protects /metrics but leaves the health probes open', async () => {
    expect((await http(`${tender.url}/metrics`)).status).toBe(401);
    expect((await http(`${tender.url}/metrics`, { headers: basic('alice', 'alice-pass') })).status).toBe(200);
    expect((await http(`${tender.url}/healthz`)).status).toBe(200);
    expect((await http(`${tender.url}/readyz`)).status).toBe(200);
  });

  it('never writes a password or token into the log', async () => {
    await http(`${tender.url}/v2/registry.test/team/app/manifests/v1`, { headers: basic('alice', 'wrong-secret-pass') });
    await http(`${tender.url}/v2/registry.test/team/app/manifests/v1`, { headers: { authorization: `Bearer ${robot}`, accept: containerdAccept } });
    const text = tender.logs.map((l) => JSON.stringify(l)).join('\n');
    expect(tender.logs.length).toBeGreaterThan(5);
    for (const secret of ['alice-pass', 'wrong-secret-pass', 'bob-pass', robot, Buffer.from('alice:alice-pass').toString('base64')]) {
      expect(text).not.toContain(secret);
    }
  });

  it('works with a real client: skopeo --src-creds', async () => {
    const work = await mkdtemp(join(tmpdir(), 'tender-auth-skopeo-'));
    onTestFinished(() => rm(work, { recursive: true, force: true }));
    const source = `docker://${new URL(tender.url).host}/registry.test/team/app:v1`;
    await run('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', 'alice:alice-pass', source, `oci:${work}/ok:v1`], { timeout: 60_000 });
    await expect(run('skopeo', ['copy', '--src-tls-verify=false', source, `oci:${work}/anon:v1`], { timeout: 60_000 })).rejects.toThrow();
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', 'alice:alice-pass', '--raw', source]);
    expect(sha256(Buffer.from(stdout))).toBe(image.digest);
  });
});
