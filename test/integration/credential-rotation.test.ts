// Issue 16 item 5: upstream credentials that rotate (a Kubernetes Secret volume's ..data symlink swap, as the
// kubelet does it) are picked up without a restart and without dropping a download in flight, and credentials
// a token realm keeps refusing are held back (counted, logged once, reported by /readyz).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { certificateDir, createCa, createClientCertificate, createServerCertificate, type Certificate } from '../helpers/certs.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { projectSecret } from '../helpers/secret-volume.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';
import { startTokenRealm, type TokenRealm } from '../helpers/token-realm.js';

const reread = 'upstream credentials re-read: new requests use them';

/** Polls with a generous deadline: the file watch (or its stat poll) fires on its own schedule. */
async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 45_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not reached: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const rereads = (tender: TenderHandle) => tender.logs.filter((l) => l.msg === reread).length;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tender-rotation-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describeWithBinaries(['docker-registry', 'htpasswd'], 'a rotated passwordFile, against a real registry with htpasswd', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let mount: string;

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { username: 'puller', password: 'right-password' } });
    await pushImage(registry, 'team/app', 'latest', { layerSizes: [100], seed: 'rotation' });
    mount = join(work, 'registry-secret');
    await mkdir(mount);
    await projectSecret(mount, '2026_01_01', { password: 'an-old-password\n' });
    tender = await startTender({
      upstreams: { 'registry.test': registry.url },
      settings: {
        upstreams: { 'registry.test': { url: registry.url, insecure: true, retries: 0, username: 'puller', passwordFile: join(mount, 'password') } },
      },
    });
  });
  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  it('refuses with the old password, and pulls with the new one once the Secret is swapped, without a restart', async () => {
    const url = `${tender.url}/v2/team/app/manifests/latest?ns=registry.test`;
    const refused = await http(url, { headers: { accept: containerdAccept } });
    expect(refused.status).toBe(403);
    await projectSecret(mount, '2026_02_01', { password: 'right-password\n' });
    await eventually(() => rereads(tender) === 1, 'the new password read');
    const pulled = await http(url, { headers: { accept: containerdAccept } });
    expect(pulled.status).toBe(200);
    expect(tender.logs.find((l) => l.msg === reread)).toMatchObject({ secrets: true, tls: false });
    expect(JSON.stringify(tender.logs)).not.toContain('right-password');
  });
});

describe('a token realm that refuses the credentials', () => {
  let upstream: FaultUpstream;
  let realm: TokenRealm;
  let tender: TenderHandle;
  let mount: string;
  const basic = (password: string) => `Basic ${Buffer.from(`robot:${password}`).toString('base64')}`;

  beforeAll(async () => {
    upstream = await startFaultUpstream();
    realm = await startTokenRealm();
    // Like Docker Hub: the account's password is refused, anonymous tokens are issued (public content).
    realm.respond = (_service, authorization) =>
      authorization === undefined || authorization === basic('new-password')
        ? { status: 200, body: JSON.stringify({ token: 'realm-token', expires_in: 300 }) }
        : { status: 401, body: '{"details":"incorrect username or password"}' };
    upstream.setBearerRealm(realm.url);
    const manifestType = 'application/vnd.oci.image.manifest.v1+json';
    for (const tag of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const manifest = { schemaVersion: 2, mediaType: manifestType, config: {}, layers: [], annotations: { tag } };
      upstream.addManifest('team/app', tag, Buffer.from(JSON.stringify(manifest)), manifestType);
    }
    mount = join(work, 'realm-secret');
    await mkdir(mount);
    await projectSecret(mount, 'one', { password: 'locked-out-password' });
    tender = await startTender({
      upstreams: { 'fault.test': upstream.url },
      settings: {
        upstreams: {
          'fault.test': {
            url: upstream.url,
            insecure: true,
            retries: 0,
            username: 'robot',
            passwordFile: join(mount, 'password'),
            tokenRealms: [realm.origin],
            credentialBackoff: '1h',
          },
        },
      },
    });
  });
  afterAll(async () => {
    await tender?.stop();
    await realm?.stop();
    await upstream?.stop();
  });

  const pull = (tag: string) => http(`${tender.url}/v2/team/app/manifests/${tag}?ns=fault.test`, { headers: { accept: containerdAccept } });

  it('stops sending them after 3 refusals in a row: asks anonymously, counted, logged once, reported by /readyz', async () => {
    for (const tag of ['a', 'b', 'c']) expect((await pull(tag)).status).toBe(403);
    expect(realm.requests.map((r) => r.authorization)).toEqual([basic('locked-out-password'), basic('locked-out-password'), basic('locked-out-password')]);
    // Held back: the realm is asked anonymously, which serves public content.
    expect((await pull('d')).status).toBe(200);
    expect((await pull('e')).status).toBe(200);
    expect(realm.requests.slice(3).map((r) => r.authorization)).toEqual([undefined]);
    expect(tender.logs.filter((l) => String(l.msg).startsWith('the token realm refused the configured credentials repeatedly'))).toHaveLength(1);
    const metrics = (await http(`${tender.url}/metrics`)).body.toString();
    expect(metrics).toMatch(/tender_upstream_credential_backoffs_total\{upstream="fault.test"\} 1/);
    const ready = await http(`${tender.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = JSON.parse(ready.body.toString()) as { warnings: string[] };
    expect(body.warnings).toHaveLength(1);
    expect(body.warnings[0]).toMatch(/^upstream fault.test: the token realm refused the configured credentials 3 times in a row; not sent until /);
  });

  it('tries a rotated password at once, and clears the report when it is accepted', async () => {
    await projectSecret(mount, 'two', { password: 'new-password' });
    await eventually(() => rereads(tender) === 1, 'the new password read');
    expect((await pull('f')).status).toBe(200);
    expect(realm.requests[realm.requests.length - 1]?.authorization).toBe(basic('new-password'));
    expect(JSON.parse((await http(`${tender.url}/readyz`)).body.toString())).toMatchObject({ status: 'ready', warnings: [] });
  });
});

describe('a rotated CA bundle and client certificate', () => {
  let pki: string;
  let ca: Certificate;
  let otherCa: Certificate;
  let stub: HttpsServer;
  let stubUrl: string;
  let tender: TenderHandle;
  let mount: string;
  const clientNames: string[] = [];
  const blob = Buffer.alloc(512 * 1024, 3);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  let release: (() => void) | undefined;
  let requested = 0;

  beforeAll(async () => {
    pki = await certificateDir();
    ca = await createCa(pki);
    otherCa = await createCa(await certificateDir(), 'another CA');
    const server = await createServerCertificate(ca, pki, { commonName: 'upstream' });
    const one = await createClientCertificate(ca, pki, { commonName: 'tender-one' });
    stub = createHttpsServer({ cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      clientNames.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
      if (req.url !== `/v2/team/app/blobs/${digest}`) return void res.writeHead(404).end();
      requested += 1;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
      // The first download is held half-way until the test lets it go: it is in flight across the rotation.
      if (requested > 1) return void res.end(blob);
      res.write(blob.subarray(0, blob.length / 2));
      release = () => res.end(blob.subarray(blob.length / 2));
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    stubUrl = `https://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    mount = join(work, 'tls-secret');
    await mkdir(mount);
    await projectSecret(mount, 'one', { 'ca.crt': ca.certPem, 'tls.crt': one.certPem, 'tls.key': one.keyPem });
    tender = await startTender({
      upstreams: { 'stub.test': stubUrl },
      settings: {
        upstreams: {
          'stub.test': {
            url: stubUrl,
            retries: 0,
            ca: join(mount, 'ca.crt'),
            clientCert: join(mount, 'tls.crt'),
            clientKey: join(mount, 'tls.key'),
          },
        },
      },
    });
  });
  afterAll(async () => {
    await tender?.stop();
    stub?.closeAllConnections();
    await new Promise((resolve) => stub?.close(resolve));
    await rm(pki, { recursive: true, force: true });
  });

  const blobUrl = () => `${tender.url}/v2/team/app/blobs/${digest}?ns=stub.test`;
  /** A HEAD of a blob nobody has: a new upstream request, on the connections tender holds now (404 when it gets through). */
  const probe = () => http(`${tender.url}/v2/team/app/blobs/sha256:${randomBytes(32).toString('hex')}?ns=stub.test`, { method: 'HEAD' });

  it('finishes the download in flight on the old connection, and presents the new client certificate on new ones', async () => {
    const inFlight = http(blobUrl());
    await eventually(() => release !== undefined, 'the download started');
    const two = await createClientCertificate(ca, pki, { commonName: 'tender-two' });
    await projectSecret(mount, 'two', { 'ca.crt': ca.certPem, 'tls.crt': two.certPem, 'tls.key': two.keyPem });
    await eventually(() => rereads(tender) === 1, 'the new certificate read');
    release!();
    const done = await inFlight;
    expect(done.status).toBe(200);
    expect(createHash('sha256').update(done.body).digest('hex')).toBe(digest.slice(7));
    expect(tender.logs.find((l) => l.msg === reread)).toMatchObject({ secrets: false, tls: true });
    expect((await probe()).status).toBe(404);
    expect(clientNames.slice(0, 1)).toEqual(['tender-one']);
    expect(clientNames[clientNames.length - 1]).toBe('tender-two');
  });

  it('trusts only the new CA bundle once it is swapped in, and keeps the pair in use when the new one is broken', async () => {
    await projectSecret(mount, 'three', { 'ca.crt': otherCa.certPem });
    await eventually(() => rereads(tender) === 2, 'the other CA read');
    expect((await probe()).status).toBe(503);
    // A certificate and key that do not match: refused, logged, the old pair kept.
    const four = await createClientCertificate(ca, pki, { commonName: 'tender-four' });
    const five = await createClientCertificate(ca, pki, { commonName: 'tender-five' });
    await projectSecret(mount, 'four', { 'ca.crt': ca.certPem, 'tls.crt': four.certPem, 'tls.key': five.keyPem });
    await eventually(() => tender.logs.some((l) => l.msg === 'refused the new upstream TLS files; keeping the ones in use'), 'the mismatched pair refused');
    expect(rereads(tender)).toBe(2);
    await projectSecret(mount, 'five', { 'ca.crt': ca.certPem, 'tls.crt': five.certPem, 'tls.key': five.keyPem });
    await eventually(() => rereads(tender) === 3, 'the good pair read');
    expect((await probe()).status).toBe(404);
    expect(clientNames[clientNames.length - 1]).toBe('tender-five');
  });
});
