// addressFamily per upstream: IPv4 only, IPv6 only, or both (Happy Eyeballs), through undici's connect
// options down to net.connect. The name resolves to ::1 and 127.0.0.1 through a resolver handed to the
// client, whatever this machine's /etc/hosts says about localhost.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../../../src/config/upstreams.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { OciError } from '../../../src/oci/errors.js';
import { familyOptions } from '../../../src/upstream/connect-options.js';
import { RegistryClient } from '../../../src/upstream/registry-client.js';

const digest = `sha256:${'a'.repeat(64)}`;

/** Both loopback addresses for every name, IPv6 first (as getaddrinfo orders them on a dual-stack host). */
const dualStack: LookupFunction = (_hostname, options, callback) => {
  const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
  const addresses: Array<{ address: string; family: number }> = [
    { address: '::1', family: 6 },
    { address: '127.0.0.1', family: 4 },
  ].filter((a) => !family || a.family === family);
  if ((options as { all?: boolean }).all) return void (callback as (err: null, all: Array<{ address: string; family: number }>) => void)(null, addresses);
  callback(null, addresses[0]!.address, addresses[0]!.family);
};

interface Listener {
  readonly server: Server;
  readonly port: number;
  readonly peers: string[];
}

async function listenOn(host: string): Promise<Listener> {
  const peers: string[] = [];
  const server = createServer((req, res) => {
    peers.push(req.socket.localAddress ?? '');
    res.writeHead(200, { 'content-length': '3', 'content-type': 'application/octet-stream' }).end(req.method === 'HEAD' ? undefined : 'abc');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as AddressInfo).port, peers };
}

function config(port: number, addressFamily: UpstreamConfig['addressFamily']): UpstreamConfig {
  return {
    name: 'dual.test',
    url: `http://dual.test:${port}`,
    aliases: [],
    insecure: true,
    username: undefined,
    password: undefined,
    token: undefined,
    ca: undefined,
    files: { passwordFile: undefined, tokenFile: undefined, caFile: undefined, clientCertFile: undefined, clientKeyFile: undefined },
    connectTimeoutMs: 5_000,
    headersTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    retries: 0,
    connections: 4,
    concurrency: 4,
    allow: [],
    deny: [],
    private: false,
    immutableTags: [],
    immutableTagsMode: 'enforce',
    pins: [],
    offline: false,
    clientCert: undefined,
    clientKey: undefined,
    tokenRealms: [],
    addressFamily,
    addressAttemptTimeoutMs: 1_000,
    credentialBackoffMs: 0,
    tagTtls: [],
  };
}

let ipv4: Listener;
let ipv6: Listener;
const clients: RegistryClient[] = [];
beforeAll(async () => {
  ipv4 = await listenOn('127.0.0.1');
  ipv6 = await listenOn('::1');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const { server } of [ipv4, ipv6]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function head(listener: Listener, family: UpstreamConfig['addressFamily']): Promise<number | string> {
  const client = new RegistryClient(config(listener.port, family), new Metrics({ processMetrics: false }), createLogger('silent'), async () => undefined, {
    lookup: dualStack,
  });
  clients.push(client);
  try {
    return (await client.headBlob('team/app', digest, AbortSignal.timeout(10_000))).size ?? 'no size';
  } catch (err) {
    if (err instanceof OciError) return err.code;
    throw err;
  }
}

describe('addressFamily', () => {
  it('ipv4 dials only IPv4 addresses', async () => {
    expect(await head(ipv4, 'ipv4')).toBe(3);
    expect(await head(ipv6, 'ipv4')).toBe('UNAVAILABLE');
  });

  it('ipv6 dials only IPv6 addresses', async () => {
    expect(await head(ipv6, 'ipv6')).toBe(3);
    expect(await head(ipv4, 'ipv6')).toBe('UNAVAILABLE');
    expect(ipv6.peers.every((address) => address === '::1')).toBe(true);
  });

  it('auto tries both (Happy Eyeballs): a server on either family is reached', async () => {
    expect(await head(ipv4, 'auto')).toBe(3);
    expect(await head(ipv6, 'auto')).toBe(3);
  });

  it("maps to Node's connect options, with the attempt timeout the operator set", () => {
    expect(familyOptions({ addressFamily: 'auto', addressAttemptTimeoutMs: 1_500 })).toEqual({ autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 1_500 });
    expect(familyOptions({ addressFamily: 'ipv4', addressAttemptTimeoutMs: 1_500 })).toEqual({ family: 4, autoSelectFamily: false });
    expect(familyOptions({ addressFamily: 'ipv6', addressAttemptTimeoutMs: 1_500 })).toEqual({ family: 6, autoSelectFamily: false });
  });
});
