// loadConfig: defaults < YAML file < environment < flags; a problem names the variable or flag it came from; files that are empty or no mapping.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/config.js';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig, parseConfig } from '../../../src/config/load.js';
import { builtInUpstreams } from '../../../src/config/upstreams.js';

const dir = mkdtempSync(join(tmpdir(), 'tender-config-test-'));
let fileCount = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeYaml(text: string): string {
  const path = join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(path, text);
  return path;
}

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

describe('loadConfig', () => {
  describe('embedded defaults', () => {
    const config = loadConfig({});

    it('listens on 0.0.0.0:5000 and caches in ./data', () => {
      expect(config.host).toBe('0.0.0.0');
      expect(config.port).toBe(5000);
      expect(config.cacheDir).toBe('./data');
      expect(config.logLevel).toBe('info');
    });

    it('defaults to docker.io', () => {
      expect(config.defaultUpstream).toBe('docker.io');
    });

    it('knows the seven built-in upstreams', () => {
      expect(config.upstreams.map((u) => u.name).sort()).toEqual(
        ['docker.io', 'gcr.io', 'ghcr.io', 'mcr.microsoft.com', 'public.ecr.aws', 'quay.io', 'registry.k8s.io'].sort(),
      );
      expect(Object.keys(builtInUpstreams)).toHaveLength(7);
    });

    it('serves docker.io from registry-1.docker.io and answers to index.docker.io', () => {
      const hub = upstream(config, 'docker.io');
      expect(hub.url).toBe('https://registry-1.docker.io');
      expect(hub.aliases).toContain('index.docker.io');
      expect(hub.aliases).toContain('registry-1.docker.io');
    });

    it('uses https without credentials for built-ins', () => {
      for (const u of config.upstreams) {
        expect(u.url.startsWith('https://')).toBe(true);
        expect(u.insecure).toBe(false);
        expect(u.username).toBeUndefined();
        expect(u.password).toBeUndefined();
        expect(u.token).toBeUndefined();
      }
      expect(upstream(config, 'ghcr.io').url).toBe('https://ghcr.io');
    });

    it('converts durations and sizes', () => {
      expect(config.tagTtlMs).toBe(5 * 60_000);
      expect(config.staleTimeoutMs).toBe(3_000);
      expect(config.flightTimeoutMs).toBe(3_600_000);
      expect(config.upstreamTimeoutMs).toBe(30_000);
      expect(config.manifestMemoryBytes).toBe(64 * 2 ** 20);
      const hub = upstream(config, 'docker.io');
      expect(hub.connectTimeoutMs).toBe(10_000);
      expect(hub.retries).toBe(3);
      expect(hub.connections).toBe(32);
    });
  });

  describe('YAML file', () => {
    it('overrides defaults and adds upstreams to the built-ins', () => {
      const file = writeYaml(`
listen: "127.0.0.1:6000"
cacheDir: /var/cache/tender
tagTtl: 30s
manifestMemory: 16MiB
upstreams:
  registry.local:5000:
    url: https://registry.local:5000/
    aliases: [registry.internal]
    retries: 1
    connectTimeout: 2s
`);
      const config = loadConfig({ file });
      expect(config.host).toBe('127.0.0.1');
      expect(config.port).toBe(6000);
      expect(config.cacheDir).toBe('/var/cache/tender');
      expect(config.tagTtlMs).toBe(30_000);
      expect(config.manifestMemoryBytes).toBe(16 * 2 ** 20);
      expect(config.flightTimeoutMs).toBe(3_600_000); // untouched default
      const local = upstream(config, 'registry.local:5000');
      expect(local.url).toBe('https://registry.local:5000');
      expect(local.aliases).toEqual(['registry.internal']);
      expect(local.retries).toBe(1);
      expect(local.connectTimeoutMs).toBe(2_000);
      expect(config.upstreams).toHaveLength(8);
      expect(upstream(config, 'docker.io').url).toBe('https://registry-1.docker.io');
    });

    it.each([
      ['empty', ''],
      ['comments only', '# nothing set yet\n'],
      ['a bare document marker', '---\n'],
    ])('accepts an %s file as all defaults, with a warning', (_label, text) => {
      const file = writeYaml(text);
      const warnings: string[] = [];
      const config = loadConfig({ file }, { onWarning: (message) => warnings.push(message) });
      expect(config.port).toBe(5000);
      expect(config.upstreams).toHaveLength(7);
      expect(warnings).toEqual([`config file ${file} is empty: using the built-in defaults`]);
    });

    it.each([
      ['a list', '- listen: 5000\n- tagTtl: 1m\n', 'a list'],
      ['a string', 'listen 5000\n', 'a string'],
      ['a number', '5000\n', 'a number'],
    ])('refuses a file that is %s at the top level, saying what it expected', (_label, text, got) => {
      const file = writeYaml(text);
      const err = configError(() => loadConfig({ file }));
      expect(err.problems).toEqual([`config file ${file}: expected settings such as "listen: :5000" at the top level, got ${got}`]);
      // A scalar is not echoed: it could be a secret pasted into the wrong file.
      expect(err.message).not.toContain('listen 5000');
    });

    it('removes a built-in upstream set to null', () => {
      const config = loadConfig({ file: writeYaml('upstreams:\n  quay.io: null\n') });
      expect(config.upstreams.map((u) => u.name)).not.toContain('quay.io');
      expect(config.upstreams).toHaveLength(6);
    });

    it('drops every built-in with includeDefaultUpstreams: false', () => {
      const config = loadConfig({
        file: writeYaml(`
includeDefaultUpstreams: false
defaultUpstream: registry.local
upstreams:
  registry.local:
    url: https://registry.local
`),
      });
      expect(config.upstreams.map((u) => u.name)).toEqual(['registry.local']);
      expect(config.defaultUpstream).toBe('registry.local');
    });

    it('reads credentials, a password file (trimmed) and allows plain http when insecure', () => {
      const passwordFile = join(dir, 'password.txt');
      writeFileSync(passwordFile, 's3cret-from-file\n');
      const config = loadConfig({
        file: writeYaml(`
upstreams:
  registry.local:5000:
    url: http://registry.local:5000
    insecure: true
    username: robot
    passwordFile: ${passwordFile}
`),
      });
      const local = upstream(config, 'registry.local:5000');
      expect(local.insecure).toBe(true);
      expect(local.url).toBe('http://registry.local:5000');
      expect(local.username).toBe('robot');
      expect(local.password).toBe('s3cret-from-file');
    });

    it('reports an unreadable file as a ConfigError', () => {
      const err = configError(() => loadConfig({ file: join(dir, 'does-not-exist.yaml') }));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('does-not-exist.yaml');
    });

    it('reports malformed YAML as a ConfigError', () => {
      const file = writeYaml('listen: [unclosed\n');
      const err = configError(() => loadConfig({ file }));
      expect(err.problems[0]).toContain(file);
    });
  });

  describe('precedence', () => {
    const file = writeYaml('listen: "127.0.0.1:6000"\ntagTtl: 1m\ncacheDir: /from/file\nlogLevel: warn\n');

    it('lets the environment override the file', () => {
      const config = loadConfig({
        file,
        env: { TENDER_LISTEN: '127.0.0.1:7000', TENDER_TAG_TTL: '2m', TENDER_LOG_LEVEL: 'debug' },
      });
      expect(config.port).toBe(7000);
      expect(config.tagTtlMs).toBe(120_000);
      expect(config.logLevel).toBe('debug');
      expect(config.cacheDir).toBe('/from/file');
    });

    it('lets flags override the environment and the file', () => {
      const config = loadConfig({
        file,
        env: { TENDER_LISTEN: '127.0.0.1:7000', TENDER_CACHE_DIR: '/from/env' },
        flags: { listen: ':8000', cacheDir: '/from/flags' },
      });
      expect(config.port).toBe(8000);
      expect(config.host).toBe('0.0.0.0');
      expect(config.cacheDir).toBe('/from/flags');
      expect(config.tagTtlMs).toBe(60_000);
    });

    it('ignores empty and unrelated environment variables', () => {
      const config = loadConfig({ file, env: { TENDER_LISTEN: '', TENDER_CACHE_DIR: undefined, HOME: '/root', PORT: '1' } });
      expect(config.port).toBe(6000);
      expect(config.cacheDir).toBe('/from/file');
    });

    it('reads every listen form', () => {
      expect(loadConfig({ flags: { listen: '9000' } })).toMatchObject({ host: '0.0.0.0', port: 9000 });
      expect(loadConfig({ flags: { listen: ':9001' } })).toMatchObject({ host: '0.0.0.0', port: 9001 });
      expect(loadConfig({ flags: { listen: '[::1]:9002' } })).toMatchObject({ host: '::1', port: 9002 });
      expect(loadConfig({ file: writeYaml('listen: 9003\n') })).toMatchObject({ port: 9003 });
    });
  });

  describe('problems name their source', () => {
    it('names the environment variable and the key', () => {
      const err = configError(() => loadConfig({ env: { TENDER_TAG_TTL: 'banana' } }));
      expect(err.problems).toEqual(['TENDER_TAG_TTL (tagTtl): expected a duration such as "500ms", "30s", "5m" or "1h", got "banana"']);
    });

    it('names the flag and the key, over the variable and the file it overrides', () => {
      const file = writeYaml('tagTtl: soon\n');
      const err = configError(() => loadConfig({ file, env: { TENDER_TAG_TTL: 'later' }, flags: { tagTtl: 'never' } }));
      expect(err.problems).toEqual(['--tag-ttl (tagTtl): expected a duration such as "500ms", "30s", "5m" or "1h", got "never"']);
    });

    it('names the YAML key for a value from the file', () => {
      const err = configError(() => loadConfig({ file: writeYaml('tagTtl: soon\n') }));
      expect(err.problems).toEqual(['tagTtl: expected a duration such as "500ms", "30s", "5m" or "1h", got "soon"']);
    });

    it('names each source when several are wrong, the checks after the shape ones included', () => {
      const err = configError(() =>
        loadConfig(
          {
            env: { TENDER_OFFLINE: 'maybe', TENDER_DEFAULT_UPSTREAM: 'hub.example', TENDER_FLIGHT_LEASE: '-1s' },
            flags: { listen: '1.2.3.4:99999', cacheDir: '/proc/x' },
          },
          { checkCacheDir: true },
        ),
      );
      expect(err.problems).toEqual([
        '--listen (listen): expected "host:port", ":port" or a port number, got "1.2.3.4:99999"',
        'TENDER_FLIGHT_LEASE (flightLease): expected a duration such as "500ms", "30s", "5m" or "1h", got "-1s"',
        'TENDER_OFFLINE (offline): expected true or false, got "maybe"',
        expect.stringMatching(/^TENDER_DEFAULT_UPSTREAM \(defaultUpstream\): "hub.example" is not a configured upstream/),
        '--cache-dir (cacheDir): "/proc/x" is under /proc, a kernel file system: expected a directory on a disk',
      ]);
    });

    it('reads booleans and numbers from text, and a nested key from its variable', () => {
      const config = loadConfig({
        env: {
          TENDER_OFFLINE: 'yes',
          TENDER_INCLUDE_DEFAULT_UPSTREAMS: 'false',
          TENDER_DEFAULT_UPSTREAM: 'reg.local',
          TENDER_METADATA_REDIS_URL: 'redis://r:6379',
        },
        file: writeYaml('upstreams:\n  reg.local:\n    url: https://reg.local\n'),
      });
      expect(config.offline).toBe(true);
      expect(config.upstreams.map((u) => u.name)).toEqual(['reg.local']);
      expect(config.redis).toEqual({ url: 'redis://r:6379' });
    });

    it.each(['http://user:s3cret-pw@r:6379', 'redis//:s3cret-pw@r:6379'])('never shows a Redis URL that does not fit (%s): it may hold a password', (url) => {
      const err = configError(() => loadConfig({ env: { TENDER_METADATA_REDIS_URL: url } }));
      expect(err.problems).toEqual(['TENDER_METADATA_REDIS_URL (metadata.redis.url): expected a redis:// or rediss:// URL']);
    });
  });

  describe('parseConfig', () => {
    it('builds the same Config from an object as loadConfig from the same YAML', () => {
      const yaml = 'tagTtl: 1m\npin:\n  digests: []\nupstreams:\n  reg.local:\n    url: https://reg.local\n    retries: 1\n';
      expect(parseConfig({ tagTtl: '1m', pin: { digests: [] }, upstreams: { 'reg.local': { url: 'https://reg.local', retries: 1 } } })).toEqual(
        loadConfig({ file: writeYaml(yaml) }),
      );
    });

    it('leaves the object it was given as it was, also when it reports problems', () => {
      const settings = { tagTtl: 'soon', bogus: 1, upstreams: { 'reg.local': { url: 'nope' } } };
      const before = structuredClone(settings);
      expect(configError(() => parseConfig(settings)).problems).toHaveLength(3);
      expect(settings).toEqual(before);
    });

    it.each([
      [null, 'nothing'],
      [[{ listen: 5000 }], 'a list'],
      ['listen: 5000', 'a string'],
    ])('refuses %j, which is no settings object', (value, got) => {
      expect(configError(() => parseConfig(value)).problems).toEqual([`expected settings as an object (a YAML mapping), got ${got}`]);
    });
  });

  describe('maxCacheSize from every source', () => {
    it('takes maxCacheSize from TENDER_MAX_CACHE_SIZE over the file, and flags over both', () => {
      const file = writeYaml('maxCacheSize: 1GiB\n');
      expect(loadConfig({ file }).maxCacheBytes).toBe(2 ** 30);
      expect(loadConfig({ file, env: { TENDER_MAX_CACHE_SIZE: '10GiB' } }).maxCacheBytes).toBe(10 * 2 ** 30);
      expect(loadConfig({ env: { TENDER_MAX_CACHE_SIZE: '500MB' } }).maxCacheBytes).toBe(500e6);
      expect(loadConfig({ file, env: { TENDER_MAX_CACHE_SIZE: '10GiB' }, flags: { maxCacheSize: '2GiB' } }).maxCacheBytes).toBe(2 * 2 ** 30);
    });

    it('names key and value of a bad TENDER_MAX_CACHE_SIZE', () => {
      const err = configError(() => loadConfig({ env: { TENDER_MAX_CACHE_SIZE: 'lots' } }));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('maxCacheSize');
      expect(err.problems[0]).toContain('lots');
    });
  });
});
