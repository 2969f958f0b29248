// `tender doctor` as operators run it (a child process): one line per upstream, against the real registry with
// and without htpasswd auth, the fault upstream's token realm, an HTTPS upstream, a closed port and a name
// that does not resolve; exit 1 when any fails, 0 when all work, 2 for an upstream that is not configured.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { certificateDir, createCa, createServerCertificate } from '../helpers/certs.js';
import { describeRun, runTender, type CliResult } from '../helpers/cli.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { freePort } from '../helpers/free-port.js';
import { runCommandLine } from '../../src/cli/command-line.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';

describeWithBinaries(['docker-registry', 'htpasswd'], 'tender doctor', () => {
  let open: RegistryHandle;
  let locked: RegistryHandle;
  let fault: FaultUpstream;
  let stub: HttpsServer;
  let dir: string;
  let pki: string;
  let configFile: string;
  let result: CliResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tender-doctor-'));
    pki = await certificateDir();
    [open, locked, fault] = await Promise.all([
      startRegistry(),
      startRegistry({ htpasswd: { username: 'puller', password: 'right-password' } }),
      startFaultUpstream(),
    ]);
    fault.setBearerRealm(fault.ownRealm());
    const ca = await createCa(pki);
    const server = await createServerCertificate(ca, pki, { commonName: 'tls-stub' });
    stub = createHttpsServer({ cert: server.certPem, key: server.keyPem }, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    const stubUrl = `https://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    await writeFile(join(dir, 'password'), 'right-password\n');
    const http = (url: string, more: Record<string, unknown> = {}) => ({ url, insecure: true, ...more });
    const upstreams = {
      'open.test': http(open.url),
      'htpasswd.test': http(locked.url, { username: 'puller', passwordFile: join(dir, 'password') }),
      'wrong.test': http(locked.url, { username: 'puller', password: 'wrong-password' }),
      'nocreds.test': http(locked.url),
      'bearer.test': http(fault.url, { username: 'robot', password: 'anything' }),
      'down.test': http(`http://127.0.0.1:${await freePort()}`, { connectTimeout: '3s' }),
      'nxdomain.test': { url: 'https://registry.nonexistent.invalid', connectTimeout: '3s' },
      'tls.test': { url: stubUrl, ca: ca.cert },
      'untrusted.test': { url: stubUrl },
    };
    configFile = join(dir, 'tender.yaml');
    await writeFile(configFile, stringify({ includeDefaultUpstreams: false, defaultUpstream: 'open.test', upstreams }));
    result = await runTender(['doctor', '--config', configFile]);
  });

  afterAll(async () => {
    stub?.closeAllConnections();
    await new Promise((resolve) => stub?.close(resolve));
    await Promise.all([open?.stop(), locked?.stop(), fault?.stop()]);
    await rm(dir, { recursive: true, force: true });
    await rm(pki, { recursive: true, force: true });
  });

  const line = (name: string): string => {
    const found = result.stdout.split('\n').find((l) => l.slice(6).startsWith(`${name} `));
    if (!found) throw new Error(`no line for ${name}\n${describeRun(['doctor'], result)}`);
    return found;
  };

  it('prints one line per upstream and exits 1 because some fail', () => {
    expect(result.code, describeRun(['doctor'], result)).toBe(1);
    expect(result.stdout.trim().split('\n')).toHaveLength(9);
  });

  it('says what works for a registry without auth, and with htpasswd credentials it accepts', () => {
    expect(line('open.test')).toMatch(
      /^ok {4}open\.test +dns: 127\.0\.0\.1 \(an address\) \| tls: none \(plain http, insecure: true\) \| \/v2\/: 200, no authentication asked \| credentials: none needed$/,
    );
    expect(line('htpasswd.test')).toMatch(/^ok .*\/v2\/: 401, asks for basic .*\| credentials: accepted for puller$/);
  });

  it('names the credentials as what fails when they are wrong or missing', () => {
    expect(line('wrong.test')).toMatch(/^FAIL .*\/v2\/: 401, asks for basic .*\| credentials FAILED: refused for puller \(401\)$/);
    expect(line('nocreds.test')).toMatch(/^FAIL .*credentials FAILED: none configured, and the upstream asks for Basic credentials$/);
  });

  it('follows a bearer challenge to the token realm', () => {
    expect(line('bearer.test')).toMatch(
      /^ok .*\/v2\/: 401, asks for bearer \(realm http:\/\/127\.0\.0\.1:\d+\/token\) \| realm: http:\/\/127\.0\.0\.1:\d+ reachable, anonymous tokens issued \| credentials: accepted for robot$/,
    );
  });

  it('stops at the first step that fails: the connection, the name, the certificate', () => {
    expect(line('down.test')).toMatch(/^FAIL .*\| \/v2\/ FAILED: .*ECONNREFUSED/);
    expect(line('nxdomain.test')).toMatch(/^FAIL {2}nxdomain\.test +dns FAILED: registry\.nonexistent\.invalid: .*ENOTFOUND/);
    expect(line('untrusted.test')).toMatch(/^FAIL .*tls FAILED: .*(self-signed|unable to verify|SELF_SIGNED|UNABLE_TO)/i);
    expect(line('tls.test')).toMatch(/^ok .*tls: TLSv1\.[23], tls-stub, verified, expires \d{4}-\d\d-\d\d \| \/v2\/: 200/);
  });

  it('exits 0 when the upstreams named all work, and 2 for a name that is not configured', async () => {
    // In process (the command line without the process around it): the child process above is the operator's view.
    const run = async (args: string[]) => {
      let out = '';
      let err = '';
      const code = await runCommandLine(args, { env: {}, out: (t) => (out += t), err: (t) => (err += t) });
      return { code, out, err };
    };
    const good = await run(['doctor', '--config', configFile, 'open.test', 'htpasswd.test']);
    expect(good.code, good.out + good.err).toBe(0);
    expect(good.out.trim().split('\n')).toHaveLength(2);
    const unknown = await run(['doctor', '--config', configFile, 'nope.test']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('not a configured upstream: nope.test');
  });
});
