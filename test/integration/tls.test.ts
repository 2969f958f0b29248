// HTTPS serving (curl, skopeo, certificate reload without dropping connections) and mutual TLS to an upstream.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { certificateDir, createCa, createClientCertificate, createServerCertificate, type Certificate } from '../helpers/certs.js';
import { pseudoRandomBytes, pushImage, sha256, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);

describeWithBinaries(['docker-registry', 'skopeo', 'openssl', 'curl'], 'TLS: HTTPS serving and upstream mutual TLS', () => {
  let work: string;
  let pki: string;
  let ca: Certificate;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tender-tls-'));
    pki = await certificateDir();
    ca = await createCa(pki);
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
    if (pki) await rm(pki, { recursive: true, force: true });
  });

  describe('serving HTTPS', () => {
    let registry: RegistryHandle;
    let image: PushedImage;
    let tender: TenderHandle;
    let tlsDir: string;
    let first: Certificate;

    beforeAll(async () => {
      registry = await startRegistry();
      image = await pushImage(registry, 'team/app', 'v1', { seed: 'tls', layerSizes: [200_000] });
      first = await createServerCertificate(ca, pki, { commonName: 'tender-first' });
      tlsDir = join(work, 'serving');
      await mkdir(tlsDir);
      await installPair(tlsDir, first);
      tender = await startTender({
        upstreams: { 'registry.test': registry.url },
        settings: { tls: { cert: join(tlsDir, 'tls.crt'), key: join(tlsDir, 'tls.key') } },
      });
    });

    afterAll(async () => {
      await tender?.stop();
      await registry?.stop();
    });

    it('answers /v2/ and serves a manifest over HTTPS to curl trusting only the test CA', async () => {
      expect(tender.url).toBe(`https://127.0.0.1:${tender.port}`);
      const base = await curl(['--cacert', ca.cert, `${tender.url}/v2/`]);
      expect(base.status).toBe(200);
      const manifest = await curl(['--cacert', ca.cert, '-H', `Accept: ${image.mediaType}`, `${tender.url}/v2/registry.test/team/app/manifests/v1`]);
      expect(manifest.status).toBe(200);
      expect(sha256(manifest.body)).toBe(image.digest);
      expect(manifest.body.equals(image.manifest)).toBe(true);
      expect(tender.logs.some((l) => l.msg === 'serving certificate loaded' && l.fingerprint === first.fingerprint && l.subject === 'tender-first')).toBe(true);
    });

    it('lets skopeo copy the image with only the CA in --src-cert-dir, digest unchanged', async () => {
      const certDir = join(work, 'skopeo-certs');
      await mkdir(certDir);
      await copyFile(ca.cert, join(certDir, 'ca.crt'));
      const into = join(work, 'skopeo-layout');
      await run(
        'skopeo',
        ['copy', '--src-cert-dir', certDir, '--preserve-digests', `docker://127.0.0.1:${tender.port}/registry.test/team/app:v1`, `oci:${into}:v1`],
        { timeout: 60_000 },
      );
      const layout = JSON.parse(await readFile(join(into, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      expect(layout.manifests[0]!.digest).toBe(image.digest);
      for (const blob of [image.config, ...image.layers]) {
        expect((await readFile(join(into, 'blobs', 'sha256', blob.digest.slice(7)))).equals(blob.bytes)).toBe(true);
      }
    });

    it('refuses plain HTTP on the TLS port', async () => {
      const plain = fetch(`http://127.0.0.1:${tender.port}/v2/`, { signal: AbortSignal.timeout(5_000) }).then(
        (response) => `answered ${response.status}`,
        (err: Error) => `failed: ${err.message}`,
      );
      expect(await plain).toMatch(/^failed/);
      // And the server is no worse for it.
      expect((await curl(['--cacert', ca.cert, `${tender.url}/v2/`])).status).toBe(200);
    });

    it('reloads a replaced certificate: an open connection keeps working, new handshakes get the new certificate', async () => {
      const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
      try {
        const before = await get(agent, `${tender.url}/v2/`);
        expect(before.status).toBe(200);
        expect(before.reused).toBe(false);
        expect(before.peerFingerprint).toBe(first.fingerprint);

        const second = await createServerCertificate(ca, pki, { commonName: 'tender-second' });
        expect(second.serial).not.toBe(first.serial);
        await installPair(tlsDir, second);
        const seen = await waitForPeer(tender.port, ca, second.fingerprint);
        expect(seen.serialNumber).toBe(second.serial);
        expect(seen.subject.CN).toBe('tender-second');

        // Same socket, still the old handshake's certificate, still served.
        const after = await get(agent, `${tender.url}/v2/`);
        expect(after.status).toBe(200);
        expect(after.reused).toBe(true);
        expect(after.socket).toBe(before.socket);
        expect(after.peerFingerprint).toBe(first.fingerprint);

        const loaded = tender.logs.find((l) => l.msg === 'serving certificate loaded' && l.fingerprint === second.fingerprint);
        expect(loaded).toMatchObject({ subject: 'tender-second', serial: second.serial, certFile: join(tlsDir, 'tls.crt') });
        expect(typeof loaded?.notAfter).toBe('string');
      } finally {
        agent.destroy();
      }
    });

    it('refuses a broken replacement and keeps serving the certificate in use', async () => {
      const serving = await peer(tender.port, ca);
      const errorsBefore = refusals(tender).length;

      await writeAtomically(join(tlsDir, 'tls.key'), '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
      await waitFor(() => refusals(tender).length > errorsBefore, 'the garbage key to be refused');
      const refused = refusals(tender).at(-1)!;
      expect(refused).toMatchObject({ level: 'error', keyFile: join(tlsDir, 'tls.key'), certFile: join(tlsDir, 'tls.crt') });
      expect(String(refused.err)).toMatch(/private key/);
      expect((await peer(tender.port, ca)).fingerprint256).toBe(serving.fingerprint256);
      expect((await curl(['--cacert', ca.cert, `${tender.url}/v2/`])).status).toBe(200);

      // A well-formed key that belongs to another certificate is refused too.
      const other = await createServerCertificate(ca, pki, { commonName: 'tender-other' });
      const mismatches = refusals(tender).filter((l) => /does not match/.test(String(l.err))).length;
      await writeAtomically(join(tlsDir, 'tls.key'), other.keyPem);
      await waitFor(() => refusals(tender).filter((l) => /does not match/.test(String(l.err))).length > mismatches, 'the mismatched key to be refused');
      expect((await peer(tender.port, ca)).fingerprint256).toBe(serving.fingerprint256);

      // The failure is not sticky: a good pair after a bad one is loaded.
      await installPair(tlsDir, other);
      await waitForPeer(tender.port, ca, other.fingerprint);

      const text = JSON.stringify(tender.logs);
      expect(text).not.toContain('PRIVATE KEY');
      expect(text).not.toContain(other.keyPem.split('\n')[1]!);
    });

    it('reloads when a Kubernetes secret volume swaps its ..data symlink', async () => {
      const mount = join(work, 'k8s-mount');
      await mkdir(mount);
      const one = await createServerCertificate(ca, pki, { commonName: 'tender-k8s-one' });
      await projectSecret(mount, 'one', one);
      const k8s = await startTender({
        upstreams: { 'registry.test': registry.url },
        settings: { tls: { cert: join(mount, 'tls.crt'), key: join(mount, 'tls.key') } },
      });
      try {
        expect((await peer(k8s.port, ca)).fingerprint256).toBe(one.fingerprint);
        const two = await createServerCertificate(ca, pki, { commonName: 'tender-k8s-two' });
        await projectSecret(mount, 'two', two);
        await waitForPeer(k8s.port, ca, two.fingerprint);
      } finally {
        await k8s.stop();
      }
    });

    it('refuses to start with a key that does not match the certificate, or a missing file', async () => {
      const a = await createServerCertificate(ca, pki, { commonName: 'tender-a' });
      const b = await createServerCertificate(ca, pki, { commonName: 'tender-b' });
      await expect(startTender({ upstreams: { 'registry.test': registry.url }, settings: { tls: { cert: a.cert, key: b.key } } })).rejects.toThrow(
        `tls: certificate "${a.cert}" with key "${b.key}": the key does not match the certificate`,
      );
      const missing = join(work, 'no-such.key');
      await expect(startTender({ upstreams: { 'registry.test': registry.url }, settings: { tls: { cert: a.cert, key: missing } } })).rejects.toThrow(
        `cannot read ${missing}: ENOENT`,
      );
    });
  });

  describe('mutual TLS to an upstream', () => {
    const blob = pseudoRandomBytes('mtls-blob', 100_000);
    const digest = sha256(blob);
    let stub: HttpsServer;
    let stubUrl: string;
    let client: Certificate;
    const clientNames: string[] = [];
    let refusedHandshakes = 0;

    beforeAll(async () => {
      const server = await createServerCertificate(ca, pki, { commonName: 'upstream-stub' });
      client = await createClientCertificate(ca, pki, { commonName: 'tender-client' });
      stub = createHttpsServer({ cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
        clientNames.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
        if (req.url === '/v2/') {
          res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
        } else if (req.url === `/v2/team/app/blobs/${digest}`) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length, 'docker-content-digest': digest });
          res.end(req.method === 'HEAD' ? undefined : blob);
        } else {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }));
        }
      });
      stub.on('tlsClientError', () => refusedHandshakes++);
      await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
      stubUrl = `https://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      stub?.closeAllConnections();
      await new Promise((resolve) => stub?.close(resolve));
    });

    function mirror(upstream: Record<string, unknown>): Promise<TenderHandle> {
      return startTender({
        upstreams: { 'stub.test': stubUrl },
        settings: { upstreams: { 'stub.test': { url: stubUrl, ca: ca.cert, retries: 0, ...upstream } } },
      });
    }

    it('presents the configured client certificate and serves the blob', async () => {
      const tender = await mirror({ clientCert: client.cert, clientKey: client.key });
      try {
        const response = await fetch(`${tender.url}/v2/stub.test/team/app/blobs/${digest}`);
        expect(response.status).toBe(200);
        const body = Buffer.from(await response.arrayBuffer());
        expect(sha256(body)).toBe(digest);
        expect(clientNames).toContain('tender-client');
      } finally {
        await tender.stop();
      }
    });

    it('is refused by the upstream without a client certificate: 503 UNAVAILABLE', async () => {
      const tender = await mirror({});
      try {
        const served = clientNames.length;
        const refusedBefore = refusedHandshakes;
        const response = await fetch(`${tender.url}/v2/stub.test/team/app/blobs/${digest}`);
        expect(response.status).toBe(503);
        const body = (await response.json()) as { errors: Array<{ code: string }> };
        expect(body.errors[0]!.code).toBe('UNAVAILABLE');
        expect(clientNames.length).toBe(served);
        expect(refusedHandshakes).toBeGreaterThan(refusedBefore);
      } finally {
        await tender.stop();
      }
    });
  });
});

async function curl(args: string[]): Promise<{ status: number; body: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'tender-curl-'));
  try {
    const out = join(dir, 'body');
    const { stdout } = await run('curl', ['-sS', '--max-time', '20', '-o', out, '-w', '%{http_code}', ...args]);
    return { status: Number(stdout), body: await readFile(out) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Puts a pair in place the way most tools do: write beside, then rename over (certificate first). */
async function installPair(dir: string, pair: Certificate): Promise<void> {
  await writeAtomically(join(dir, 'tls.crt'), pair.certPem);
  await writeAtomically(join(dir, 'tls.key'), pair.keyPem);
}

async function writeAtomically(path: string, content: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content);
  await rename(temp, path);
}

/** The kubelet's AtomicWriter layout: tls.crt → ..data/tls.crt, ..data → ..<timestamp>/, swapped by one rename. */
async function projectSecret(mount: string, version: string, pair: Certificate): Promise<void> {
  const payload = `..${version}`;
  await mkdir(join(mount, payload));
  await writeFile(join(mount, payload, 'tls.crt'), pair.certPem);
  await writeFile(join(mount, payload, 'tls.key'), pair.keyPem);
  await symlink(payload, join(mount, '..data_tmp'));
  await rename(join(mount, '..data_tmp'), join(mount, '..data'));
  for (const name of ['tls.crt', 'tls.key']) await symlink(join('..data', name), join(mount, name)).catch(() => undefined);
}

interface Fetched {
  status: number;
  reused: boolean;
  socket: TLSSocket;
  peerFingerprint: string;
}

function get(agent: HttpsAgent, url: string): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent }, (res) => {
      const socket = res.socket as TLSSocket;
      const peerFingerprint = socket.getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, socket, peerFingerprint }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The certificate a fresh handshake gets (no session reuse). */
function peer(port: number, ca: Certificate): Promise<ReturnType<TLSSocket['getPeerCertificate']>> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.certPem, timeout: 5_000 }, () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      resolve(certificate);
    });
    socket.on('error', reject);
  });
}

async function waitForPeer(port: number, ca: Certificate, fingerprint: string): Promise<ReturnType<TLSSocket['getPeerCertificate']>> {
  let last: ReturnType<TLSSocket['getPeerCertificate']> | undefined;
  await waitFor(async () => {
    last = await peer(port, ca);
    return last.fingerprint256 === fingerprint;
  }, `a new handshake to present ${fingerprint}`);
  return last!;
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function refusals(tender: TenderHandle): Array<Record<string, unknown>> {
  return tender.logs.filter((l) => l.msg === 'refused the new certificate; still serving the old one');
}
