// parseConfig: settings as the YAML file gives them, every problem reported at once, frozen result, no secrets in errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../../../src/config/config.js';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig, parseConfig, type LoadOptions } from '../../../src/config/load.js';
import { builtInUpstreams } from '../../../src/config/upstreams.js';

const dir = mkdtempSync(join(tmpdir(), 'tender-config-test-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(run: () => Config): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function upstream(config: Config, name: string) {
  const found = config.upstreams.find((u) => u.name === name);
  if (!found) throw new Error(`upstream ${name} not configured`);
  return found;
}

/** A Config from YAML text, without writing a file. */
function fromYaml(text: string, options: LoadOptions = {}): Config {
  return parseConfig(parseYaml(text) ?? {}, options);
}

describe('parseConfig', () => {
  describe('invalid configuration', () => {
    it.each(['nope', '70000', 'host:port', '1.2.3.4:99999'])('names key and value of a bad listen %j', (listen) => {
      const err = configError(() => parseConfig({ listen }));
      expect(err.problems).toEqual([`listen: expected "host:port", ":port" or a port number, got ${JSON.stringify(listen)}`]);
    });

    it('reports every schema problem at once', () => {
      const yaml = `
tagTtl: banana
flightTimeout: forever
manifestMemory: lots
logLevel: loud
bogusKey: 1
upstreams:
  registry.local:
    url: not a url
  quay.io:
    url: https://quay.io
    retries: 99
`;
      const err = configError(() => fromYaml(yaml));
      const text = err.problems.join('\n');
      for (const [key, value] of [
        ['tagTtl', 'banana'],
        ['flightTimeout', 'forever'],
        ['manifestMemory', 'lots'],
        ['logLevel', 'loud'],
        ['upstreams.registry.local.url', 'not a url'],
        ['upstreams.quay.io.retries', '99'],
      ]) {
        expect(
          err.problems.some((p) => p.includes(key!) && p.includes(value!)),
          `a problem naming ${key} = ${value}`,
        ).toBe(true);
      }
      expect(text).toContain('bogusKey');
      expect(err.problems.length).toBeGreaterThanOrEqual(7);
      expect(err.message).toContain('banana');
    });

    it('reports every semantic problem at once', () => {
      const yaml = `
listen: nope
defaultUpstream: nowhere.example
upstreams:
  registry.local:
    url: http://registry.local:5000
  other.example:
    url: https://other.example
    aliases: [index.docker.io]
  third.example:
    url: https://third.example
    username: robot
`;
      const err = configError(() => fromYaml(yaml));
      const problem = (needle: string) => err.problems.find((p) => p.includes(needle));
      expect(problem('listen')).toContain('nope');
      expect(problem('upstreams.registry.local.url')).toContain('http://registry.local:5000');
      expect(problem('upstreams.registry.local.url')).toContain('insecure');
      expect(problem('defaultUpstream')).toContain('nowhere.example');
      expect(problem('index.docker.io')).toContain('docker.io');
      expect(problem('upstreams.third.example.password')).toBeDefined();
      expect(err.problems).toHaveLength(5);
    });

    it('reports schema and semantic problems together', () => {
      const yaml = `
tagTtl: banana
listen: nope
defaultUpstream: nowhere.example
bogusKey: 1
upstreams:
  registry.local:
    url: http://registry.local:5000
  broken.example:
    url: https://broken.example
    retries: many
`;
      const err = configError(() => fromYaml(yaml));
      const problem = (needle: string) => err.problems.find((p) => p.includes(needle));
      expect(problem('tagTtl')).toContain('banana');
      expect(problem('bogusKey')).toBeDefined();
      expect(problem('upstreams.broken.example.retries')).toContain('many');
      expect(problem('listen')).toContain('nope');
      expect(problem('upstreams.registry.local.url')).toContain('insecure');
      expect(problem('defaultUpstream')).toContain('nowhere.example');
      expect(err.problems).toHaveLength(6);
    });

    it('names the value of each of two problems in one upstream entry', () => {
      const yaml = `
upstreams:
  registry.local:
    url: not a url
    retries: 99
`;
      const err = configError(() => fromYaml(yaml));
      const problem = (needle: string) => err.problems.find((p) => p.includes(needle));
      expect(problem('upstreams.registry.local.url')).toContain('not a url');
      expect(problem('upstreams.registry.local.retries')).toContain('99');
      expect(err.problems).toHaveLength(2);
    });

    it("refuses an upstream name that is also another upstream's alias", () => {
      const yaml = 'upstreams:\n  index.docker.io:\n    url: https://index.docker.io\n';
      const err = configError(() => fromYaml(yaml));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('index.docker.io');
    });

    it('refuses a default upstream that was removed', () => {
      const err = configError(() => fromYaml('upstreams:\n  docker.io: null\n'));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('defaultUpstream');
      expect(err.problems[0]).toContain('docker.io');
    });

    it('refuses a default upstream when every built-in is dropped', () => {
      const err = configError(() => fromYaml('includeDefaultUpstreams: false\n'));
      expect(err.problems.some((p) => p.startsWith('defaultUpstream'))).toBe(true);
    });

    it('refuses an unknown upstream setting, naming it', () => {
      const err = configError(() => fromYaml('upstreams:\n  ghcr.io:\n    url: https://ghcr.io\n    retry: 2\n'));
      expect(err.problems.join('\n')).toContain('retry');
    });

    it('refuses both a token and a username/password on one upstream', () => {
      const yaml = `
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: pw
    token: tok
`;
      expect(configError(() => fromYaml(yaml)).problems).toHaveLength(1);
    });

    it('reports an unreadable password file with its key', () => {
      const yaml = `
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    passwordFile: ${join(dir, 'missing-password')}
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.some((p) => p.includes('upstreams.ghcr.io.passwordFile'))).toBe(true);
    });
  });

  describe('secrets', () => {
    const password = 'hunter2-very-secret';

    it('never puts a password into a ConfigError raised for other upstream problems', () => {
      const yaml = `
listen: nope
upstreams:
  registry.local:
    url: http://registry.local:5000
    username: robot
    password: ${password}
  other.example:
    url: https://other.example
    username: robot
    password: ${password}
    aliases: [registry.local]
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.length).toBeGreaterThanOrEqual(3);
      expect(err.message).not.toContain(password);
      expect(err.problems.join('\n')).not.toContain(password);
    });

    it('never puts a password into a ConfigError raised for an unknown key', () => {
      const yaml = `
bogusKey: 1
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: ${password}
    pasword: typo
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.join('\n')).toContain('pasword');
      expect(err.problems.join('\n')).toContain('bogusKey');
      expect(err.message).not.toContain(password);
    });

    it('never puts a password into a ConfigError raised for a schema problem elsewhere', () => {
      const yaml = `
tagTtl: banana
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: ${password}
    retries: -1
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.length).toBeGreaterThanOrEqual(2);
      expect(err.message).not.toContain(password);
    });

    it('never echoes a password or token that YAML read as a number, but names the key', () => {
      const yaml = `
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: 123456789
  quay.io:
    url: https://quay.io
    token: 987654321
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.some((p) => p.startsWith('upstreams.ghcr.io.password'))).toBe(true);
      expect(err.problems.some((p) => p.startsWith('upstreams.quay.io.token'))).toBe(true);
      expect(err.message).not.toContain('123456789');
      expect(err.message).not.toContain('987654321');
    });

    it('never echoes a password given as a list or a map', () => {
      const yaml = `
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: [${password}]
  quay.io:
    url: https://quay.io
    username: robot
    password: { value: ${password} }
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.filter((p) => p.includes('.password'))).toHaveLength(2);
      expect(err.message).not.toContain(password);
    });

    it.each([
      ['plain http', 'http://robot:pw@reg.local', false],
      ['plain http marked insecure', 'http://robot:pw@reg.local', true],
      ['https', 'https://robot:pw@reg.local', false],
    ])('refuses credentials in a %s URL, showing [redacted] instead', (_label, url, insecure) => {
      const yaml = `
upstreams:
  reg.local:
    url: ${url}
    insecure: ${insecure}
`;
      const err = configError(() => fromYaml(yaml));
      const problem = err.problems.find((p) => p.includes('credentials'));
      expect(problem).toBeDefined();
      expect(problem).toContain('upstreams.reg.local.url');
      expect(problem).toContain('[redacted]@reg.local');
      for (const leak of ['robot', ':pw', 'pw@']) expect(err.message).not.toContain(leak);
    });

    it('redacts credentials in a URL that is not even valid', () => {
      const yaml = `
upstreams:
  reg.local:
    url: "https://robot:${password}@bad host"
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('upstreams.reg.local.url');
      expect(err.problems[0]).toContain('[redacted]');
      expect(err.message).not.toContain(password);
      expect(err.message).not.toContain('robot');
    });

    it('redacts a token given as the URL user name', () => {
      const yaml = `
upstreams:
  reg.local:
    url: https://${password}@reg.local
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.join('\n')).toContain('[redacted]');
      expect(err.message).not.toContain(password);
    });

    // A URL's user info runs to the last "@", not the first.
    it('redacts a password that contains "@"', () => {
      const yaml = `
upstreams:
  reg.local:
    url: https://robot:p@ss-w0rd@reg.local
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.join('\n')).toContain('[redacted]@reg.local');
      expect(err.message).not.toContain('ss-w0rd');
    });
  });

  describe('built-in upstreams', () => {
    it('keeps the docker.io aliases when docker.io is overridden with credentials', () => {
      const config = fromYaml(`
upstreams:
  docker.io:
    url: https://registry-1.docker.io
    username: robot
    password: hub-secret
`);
      const hub = upstream(config, 'docker.io');
      expect(hub.username).toBe('robot');
      expect(hub.password).toBe('hub-secret');
      expect(hub.url).toBe('https://registry-1.docker.io');
      expect([...hub.aliases].sort()).toEqual(['index.docker.io', 'registry-1.docker.io']);
      expect(config.upstreams.filter((u) => u.name === 'docker.io')).toHaveLength(1);
      expect(config.upstreams).toHaveLength(7);
    });

    it('still refuses another upstream claiming a docker.io alias after an override', () => {
      const yaml = `
upstreams:
  docker.io:
    url: https://registry-1.docker.io
    token: hub-token
  mirror.local:
    url: https://mirror.local
    aliases: [registry-1.docker.io]
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('registry-1.docker.io');
      expect(err.message).not.toContain('hub-token');
    });

    it('neither freezes nor changes the exported builtInUpstreams', () => {
      const before = structuredClone(builtInUpstreams);
      const configs = [
        parseConfig({}),
        fromYaml('upstreams:\n  docker.io:\n    url: https://mirror.example\n    username: robot\n    password: pw\n'),
        fromYaml('upstreams:\n  docker.io:\n    url: https://registry-1.docker.io\n    aliases: [hub.local]\n'),
        fromYaml('upstreams:\n  quay.io: null\n'),
      ];
      expect(builtInUpstreams).toEqual(before);
      expect(Object.isFrozen(builtInUpstreams)).toBe(false);
      for (const entry of Object.values(builtInUpstreams)) {
        expect(Object.isFrozen(entry)).toBe(false);
        if (entry.aliases) expect(Object.isFrozen(entry.aliases)).toBe(false);
      }
      // The config's alias lists are its own copies.
      for (const config of configs) expect(upstream(config, 'docker.io').aliases).not.toBe(builtInUpstreams['docker.io']!.aliases);
      expect(upstream(parseConfig({}), 'docker.io').aliases).toEqual(before['docker.io']!.aliases);
    });
  });

  describe('blob cache settings', () => {
    it('defaults to no cap, 256 KiB small blobs, 64 MiB of blob memory and nothing pinned', () => {
      const config = parseConfig({});
      expect(config.maxCacheBytes).toBe(0);
      expect(config.smallBlobBytes).toBe(256 * 1024);
      expect(config.blobMemoryBytes).toBe(64 * 2 ** 20);
      expect(config.pinnedRepositories).toEqual([]);
      expect(config.pinnedDigests).toEqual([]);
      for (const u of config.upstreams) expect(u.concurrency).toBe(16);
    });

    it('reads sizes, pins and per-upstream concurrency from the file', () => {
      const sha256 = `sha256:${'a'.repeat(64)}`;
      const sha512 = `sha512:${'b'.repeat(128)}`;
      const config = fromYaml(`
maxCacheSize: 50GiB
smallBlobSize: 1MiB
blobMemory: 128MiB
pin:
  repositories: [docker.io/library/*, ghcr.io/org/**, quay.io/team/app]
  digests: [${sha256}, ${sha512}]
upstreams:
  ghcr.io:
    url: https://ghcr.io
    concurrency: 4
`);
      expect(config.maxCacheBytes).toBe(50 * 2 ** 30);
      expect(config.smallBlobBytes).toBe(2 ** 20);
      expect(config.blobMemoryBytes).toBe(128 * 2 ** 20);
      expect(config.pinnedRepositories).toEqual(['docker.io/library/*', 'ghcr.io/org/**', 'quay.io/team/app']);
      expect(config.pinnedDigests).toEqual([sha256, sha512]);
      expect(upstream(config, 'ghcr.io').concurrency).toBe(4);
      expect(upstream(config, 'quay.io').concurrency).toBe(16);
      expect(Object.isFrozen(config.pinnedDigests)).toBe(true);
    });

    it('bounds blobs of unknown size at 64 GiB and scrubs nothing by default; both from the file or the environment', () => {
      expect(parseConfig({}).maxBlobBytes).toBe(64 * 2 ** 30);
      expect(parseConfig({}).scrubBytesPerSecond).toBe(0);
      expect(fromYaml('maxBlobSize: 100GiB\nscrubRate: 16MiB\n').maxBlobBytes).toBe(100 * 2 ** 30);
      expect(fromYaml('maxBlobSize: 100GiB\nscrubRate: 16MiB\n').scrubBytesPerSecond).toBe(16 * 2 ** 20);
      const env = { TENDER_MAX_BLOB_SIZE: '8GiB', TENDER_SCRUB_RATE: '16MiB' };
      expect(loadConfig({ env }).maxBlobBytes).toBe(8 * 2 ** 30);
      expect(loadConfig({ env }).scrubBytesPerSecond).toBe(16 * 2 ** 20);
    });

    it('refuses a maxBlobSize of 0, which would refuse every blob', () => {
      const err = configError(() => fromYaml('maxBlobSize: 0\n'));
      expect(err.problems).toEqual(['maxBlobSize: expected a size above 0, got 0']);
    });

    it('accepts a byte count as a number', () => {
      expect(fromYaml('maxCacheSize: 1073741824\n').maxCacheBytes).toBe(2 ** 30);
    });

    it.each([
      ['maxCacheSize', 'huge'],
      ['smallBlobSize', '-1'],
      ['blobMemory', '12 parsecs'],
    ])('names key and value of a bad %s', (key, value) => {
      const err = configError(() => fromYaml(`${key}: "${value}"\n`));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain(key);
      expect(err.problems[0]).toContain(value);
    });

    it.each([
      ['a short digest', 'sha256:abc'],
      ['upper-case hex', `sha256:${'A'.repeat(64)}`],
      ['a sha256 with 128 hex', `sha256:${'a'.repeat(128)}`],
      ['an unknown algorithm', `md5:${'a'.repeat(32)}`],
      ['a tag', 'latest'],
    ])('refuses %s as a pinned digest, naming the key and value', (_label, digest) => {
      const err = configError(() => fromYaml(`pin:\n  digests: ["${digest}"]\n`));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('pin.digests');
      expect(err.problems[0]).toContain(digest);
    });

    it('refuses a pin pattern with characters no repository has, and an unknown pin key', () => {
      const err = configError(() => fromYaml('pin:\n  repositories: ["docker.io/library/nginx latest"]\n  tags: [v1]\n'));
      const text = err.problems.join('\n');
      expect(err.problems.find((p) => p.includes('pin.repositories'))).toContain('docker.io/library/nginx latest');
      expect(text).toContain('tags');
    });

    it.each([0, 1025, 1.5, -1, '8'])('refuses upstream concurrency %j, naming key and value', (concurrency) => {
      const value = typeof concurrency === 'string' ? `"${concurrency}"` : String(concurrency);
      const err = configError(() => fromYaml(`upstreams:\n  ghcr.io:\n    url: https://ghcr.io\n    concurrency: ${value}\n`));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('upstreams.ghcr.io.concurrency');
      expect(err.problems[0]).toContain(String(concurrency));
    });

    it.each([1, 1024])('accepts upstream concurrency %d', (concurrency) => {
      const config = fromYaml(`upstreams:\n  ghcr.io:\n    url: https://ghcr.io\n    concurrency: ${concurrency}\n`);
      expect(upstream(config, 'ghcr.io').concurrency).toBe(concurrency);
    });
  });

  describe('result', () => {
    it('is deeply frozen', () => {
      const config = fromYaml('upstreams:\n  registry.local:\n    url: https://registry.local\n    aliases: [a.local]\n');
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.upstreams)).toBe(true);
      const local = upstream(config, 'registry.local');
      expect(Object.isFrozen(local)).toBe(true);
      expect(Object.isFrozen(local.aliases)).toBe(true);
      expect(() => {
        (config as { port: number }).port = 1;
      }).toThrow(TypeError);
      expect(() => {
        (config.upstreams as unknown[]).push({});
      }).toThrow(TypeError);
      expect(() => {
        (local as { url: string }).url = 'https://evil.example';
      }).toThrow(TypeError);
      expect(config.port).toBe(5000);
    });

    it('does not share state between loads', () => {
      const a = fromYaml('upstreams:\n  quay.io: null\n');
      const b = parseConfig({});
      expect(a.upstreams).toHaveLength(6);
      expect(b.upstreams).toHaveLength(7);
    });
  });

  describe('issue 10 settings', () => {
    it('lists auth.docker.io as the built-in token realm of docker.io, kept when docker.io is overridden', () => {
      expect(upstream(parseConfig({}), 'docker.io').tokenRealms).toEqual(['auth.docker.io']);
      const yaml = `
upstreams:
  docker.io:
    url: https://registry-1.docker.io
    username: robot
    password: pw
  reg.local:
    url: http://reg.local:5000
    insecure: true
    tokenRealms: [auth.local, "http://auth.local:5001"]
`;
      const config = fromYaml(yaml);
      expect(upstream(config, 'docker.io').tokenRealms).toEqual(['auth.docker.io']);
      expect(upstream(config, 'reg.local').tokenRealms).toEqual(['auth.local', 'http://auth.local:5001']);
      expect(upstream(config, 'ghcr.io').tokenRealms).toEqual([]);
    });

    it('refuses a plain-http token realm for an upstream not marked insecure, and realms that are not hosts', () => {
      const yaml = `
upstreams:
  reg.local:
    url: https://reg.local
    tokenRealms: ["http://auth.local"]
  other.local:
    url: https://other.local
    tokenRealms: ["https://auth.local/token", "auth local"]
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.join('\n')).toContain('upstreams.reg.local.tokenRealms: "http://auth.local" is plain http');
      expect(err.problems.filter((p) => p.startsWith('upstreams.other.local.tokenRealms'))).toHaveLength(2);
    });

    it('refuses aliases that are not ASCII host names', () => {
      const yaml = `
upstreams:
  reg.local:
    url: https://reg.local
    aliases: ["doc\u212Aer.io", "reg local"]
`;
      const err = configError(() => fromYaml(yaml));
      expect(err.problems.filter((p) => p.startsWith('upstreams.reg.local.aliases'))).toHaveLength(2);
    });

    it('reads the auth throttle, with defaults', () => {
      const htpasswd = join(dir, 'htpasswd');
      writeFileSync(htpasswd, 'alice:$2y$05$abcdefghijklmnopqrstuuY0Cl1Ui1tF1QG3MpQ1/Nn5x2bvdQkbm\n');
      const plain = fromYaml(`auth:\n  htpasswd: ${htpasswd}\n`);
      expect(plain.auth).toMatchObject({ maxFailures: 10, failureWindowMs: 60_000, verifyQueue: 64 });
      const tuned = fromYaml(`auth:\n  htpasswd: ${htpasswd}\n  throttle: { failures: 0, window: 5m, queue: 8 }\n`);
      expect(tuned.auth).toMatchObject({ maxFailures: 0, failureWindowMs: 300_000, verifyQueue: 8 });
      const err = configError(() => fromYaml(`auth:\n  htpasswd: ${htpasswd}\n  throttle: { failures: -1, window: soon }\n`));
      expect(err.problems.some((p) => p.startsWith('auth.throttle.failures'))).toBe(true);
      expect(err.problems.some((p) => p.startsWith('auth.throttle.window'))).toBe(true);
    });

    it('checks the cache directory only when asked, and reports it with the other problems', () => {
      const yaml = `cacheDir: /proc/tender-cache\ntagTtl: soon\n`;
      const err = configError(() => fromYaml(yaml, { checkCacheDir: true }));
      expect(err.problems).toEqual([
        expect.stringContaining('tagTtl'),
        'cacheDir: "/proc/tender-cache" is under /proc, a kernel file system: expected a directory on a disk',
      ]);
      expect(fromYaml('cacheDir: /proc/tender-cache\n').cacheDir).toBe('/proc/tender-cache');
    });
  });
});
