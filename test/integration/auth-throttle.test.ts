// Client authentication under a wrong-password flood: bcrypt off the event loop, failures throttled, other clients unaffected.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept } from '../helpers/http-client.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** performance.now() when the whole answer was in. */
  readonly at: number;
}

describeWithBinaries(['docker-registry', 'htpasswd'], 'a wrong-password flood against client authentication', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let image: PushedImage;
  /** One client per source address: tender throttles by the TCP peer's address. */
  const clients = new Map<string, Agent>();

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry, 'team/app', 'v1', { layerSizes: [1000], seed: 'auth-flood' });
    const dir = await mkdtemp(join(tmpdir(), 'tender-auth-flood-'));
    // Cost 10, as operators create entries (htpasswd -B -C 10): tens of milliseconds per check in bcryptjs.
    const users = await Promise.all(['alice', 'bob', 'carol'].map((u) => run('htpasswd', ['-Bbn', '-C', '10', u, `${u}-pass`])));
    await writeFile(join(dir, 'htpasswd'), users.map((u) => u.stdout.trim()).join('\n'));
    tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: { auth: { realm: 'tender-test', htpasswd: join(dir, 'htpasswd'), throttle: { failures: 10, window: '1m' } } },
    });
  });

  afterAll(async () => {
    for (const client of clients.values()) await client.close();
    await tender?.stop();
    await registry?.stop();
  });

  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  async function ask(path: string, from: string, authorization: string | undefined): Promise<Answer> {
    let client = clients.get(from);
    if (!client) {
      client = new Agent({ localAddress: from });
      clients.set(from, client);
    }
    const headers: Record<string, string> = { accept: containerdAccept };
    if (authorization) headers.authorization = authorization;
    const res = await request(`${tender.url}${path}`, { dispatcher: client, headers });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body, at: performance.now() };
  }

  const manifestPath = '/v2/registry.test/team/app/manifests/v1';

  it('answers the authorised clients while 200 wrong passwords for a real user run, and checks at most the limit of them', async () => {
    // carol's password is verified (and remembered) before the flood; the manifest is cached.
    expect((await ask(manifestPath, '127.0.0.3', basic('carol', 'carol-pass'))).status).toBe(200);

    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const flood = Array.from({ length: 200 }, (_, i) => ask(manifestPath, '127.0.0.1', basic('alice', `guess-${i}`)));
    // During the flood: a remembered password, and a right one never checked before, each from its own address.
    const cached = ask(manifestPath, '127.0.0.3', basic('carol', 'carol-pass'));
    const uncached = ask(manifestPath, '127.0.0.2', basic('bob', 'bob-pass'));
    const [floodAnswers, carol, bob] = await Promise.all([Promise.all(flood), cached, uncached]);
    loop.disable();

    expect(carol.status).toBe(200);
    expect(bob.status).toBe(200);
    expect(JSON.parse(bob.body)).toMatchObject({ schemaVersion: 2 });
    const statuses = floodAnswers.map((a) => a.status);
    expect(
      statuses.every((s) => s === 401 || s === 429),
      `flood statuses ${[...new Set(statuses)].join(',')}`,
    ).toBe(true);
    // Attempts in progress count against the limit: at most 10 of the 200 were checked with bcrypt.
    const checked = statuses.filter((s) => s === 401).length;
    expect(checked).toBeGreaterThan(0);
    expect(checked).toBeLessThanOrEqual(10);
    for (const refused of floodAnswers.filter((a) => a.status === 429)) {
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(refused.body).errors[0].code).toBe('TOOMANYREQUESTS');
    }
    // Both authorised clients were answered before the flood was: bob's check did not queue behind alice's.
    const floodDone = Math.max(...floodAnswers.map((a) => a.at));
    expect(carol.at).toBeLessThan(floodDone);
    expect(bob.at).toBeLessThan(floodDone);
    console.info(
      `auth flood: ${checked} checked, ${200 - checked} throttled; event loop delay max ${(loop.max / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms`,
    );

    const throttled = await tender.metrics.registry.getSingleMetricAsString('tender_client_auth_throttled_total');
    const counted = [...throttled.matchAll(/scope="(\w+)"\} (\d+)/g)].reduce((sum, m) => sum + Number(m[2]), 0);
    expect(counted).toBe(200 - checked);
    const failures = await tender.metrics.registry.getSingleMetricAsString('tender_client_auth_failures_total');
    expect(failures).toMatch(new RegExp(`tender_client_auth_failures_total ${checked}\\b`));
    // Logged once for the interval, not once per refusal.
    expect(tender.logs.filter((l) => String(l.msg).startsWith('login attempts throttled'))).toHaveLength(1);
  });

  it('keeps refusing the flooding address, even a right password, with Retry-After', async () => {
    const res = await ask(manifestPath, '127.0.0.1', basic('alice', 'alice-pass'));
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(1);
  });

  it('refuses the flooded user from a new address too (the per-user limit), but not her remembered password', async () => {
    expect((await ask(manifestPath, '127.0.0.4', basic('alice', 'alice-pass'))).status).toBe(429);
    // carol was never throttled, and is still answered from any address.
    expect((await ask(manifestPath, '127.0.0.4', basic('carol', 'carol-pass'))).status).toBe(200);
  });

  it('tells a client without credentials (Basic Og==) that authentication is required, without counting a failure', async () => {
    const before = await tender.metrics.registry.getSingleMetricAsString('tender_client_auth_failures_total');
    for (const authorization of [undefined, 'Basic Og==', 'Basic ']) {
      const res = await ask(manifestPath, '127.0.0.7', authorization);
      expect(res.status, String(authorization)).toBe(401);
      expect(JSON.parse(res.body).errors[0]).toMatchObject({ code: 'UNAUTHORIZED', message: 'authentication required' });
      expect(res.headers['www-authenticate']).toBe('Basic realm="tender-test"');
    }
    expect(await tender.metrics.registry.getSingleMetricAsString('tender_client_auth_failures_total')).toBe(before);
    const wrong = await ask(manifestPath, '127.0.0.7', basic('nobody', 'x'));
    expect(JSON.parse(wrong.body).errors[0].message).toBe('wrong credentials');
  });

  it('logs a 401 with the kind and repository its path names', async () => {
    const mark = tender.logs.length;
    await ask(`/v2/registry.test/team/app/blobs/${image.layers[0]!.digest}`, '127.0.0.8', undefined);
    await ask('/v2/team/app/manifests/v1?ns=registry.test', '127.0.0.8', undefined);
    const lines = tender.logs.slice(mark).filter((l) => l.msg === 'request' && l.status === 401);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ kind: 'blob', upstream: 'registry.test', repository: 'team/app' });
    expect(lines[1]).toMatchObject({ kind: 'manifest', upstream: 'registry.test', repository: 'team/app' });
  });
});
