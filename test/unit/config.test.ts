// loadConfig: defaults < YAML file < environment < flags, every problem reported at once, frozen result, no secrets in errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtInUpstreams, ConfigError, loadConfig, type Config } from '../../src/config.js';

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

    it('treats an empty file as all defaults', () => {
      const config = loadConfig({ file: writeYaml('') });
      expect(config.port).toBe(5000);
      expect(config.upstreams).toHaveLength(7);
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

  describe('invalid configuration', () => {
    it('names key and value of a bad duration', () => {
      const err = configError(() => loadConfig({ env: { TENDER_TAG_TTL: 'banana' } }));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('tagTtl');
      expect(err.problems[0]).toContain('banana');
    });

    it.each(['nope', '70000', 'host:port', '1.2.3.4:99999'])('names key and value of a bad listen %j', (listen) => {
      const err = configError(() => loadConfig({ flags: { listen } }));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('listen');
      expect(err.problems[0]).toContain(listen);
    });

    it('reports every schema problem at once', () => {
      const file = writeYaml(`
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
`);
      const err = configError(() => loadConfig({ file }));
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
      const file = writeYaml(`
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
`);
      const err = configError(() => loadConfig({ file }));
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
      const file = writeYaml(`
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
`);
      const err = configError(() => loadConfig({ file }));
      const problem = (needle: string) => err.problems.find((p) => p.includes(needle));
      expect(problem('tagTtl')).toContain('banana');
      expect(problem('bogusKey')).toBeDefined();
      expect(problem('upstreams.broken.example.retries')).toContain('many');
      expect(problem('listen')).toContain('nope');
      expect(problem('upstreams.registry.local.url')).toContain('insecure');
      expect(problem('defaultUpstream')).toContain('nowhere.example');
      expect(err.problems).toHaveLength(6);
    });

    it("refuses an upstream name that is also another upstream's alias", () => {
      const file = writeYaml('upstreams:\n  index.docker.io:\n    url: https://index.docker.io\n');
      const err = configError(() => loadConfig({ file }));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('index.docker.io');
    });

    it('refuses a default upstream that was removed', () => {
      const err = configError(() => loadConfig({ file: writeYaml('upstreams:\n  docker.io: null\n') }));
      expect(err.problems).toHaveLength(1);
      expect(err.problems[0]).toContain('defaultUpstream');
      expect(err.problems[0]).toContain('docker.io');
    });

    it('refuses a default upstream when every built-in is dropped', () => {
      const err = configError(() => loadConfig({ file: writeYaml('includeDefaultUpstreams: false\n') }));
      expect(err.problems.some((p) => p.startsWith('defaultUpstream'))).toBe(true);
    });

    it('refuses an unknown upstream setting, naming it', () => {
      const err = configError(() => loadConfig({ file: writeYaml('upstreams:\n  ghcr.io:\n    url: https://ghcr.io\n    retry: 2\n') }));
      expect(err.problems.join('\n')).toContain('retry');
    });

    it('refuses both a token and a username/password on one upstream', () => {
      const file = writeYaml(`
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: pw
    token: tok
`);
      expect(configError(() => loadConfig({ file })).problems).toHaveLength(1);
    });

    it('reports an unreadable password file with its key', () => {
      const file = writeYaml(`
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    passwordFile: ${join(dir, 'missing-password')}
`);
      const err = configError(() => loadConfig({ file }));
      expect(err.problems.some((p) => p.includes('upstreams.ghcr.io.passwordFile'))).toBe(true);
    });
  });

  describe('secrets', () => {
    const password = 'hunter2-very-secret';

    it('never puts a password into a ConfigError raised for other upstream problems', () => {
      const file = writeYaml(`
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
`);
      const err = configError(() => loadConfig({ file }));
      expect(err.problems.length).toBeGreaterThanOrEqual(3);
      expect(err.message).not.toContain(password);
      expect(err.problems.join('\n')).not.toContain(password);
    });

    it('never puts a password into a ConfigError raised for an unknown key', () => {
      const file = writeYaml(`
bogusKey: 1
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: ${password}
    pasword: typo
`);
      const err = configError(() => loadConfig({ file }));
      expect(err.problems.join('\n')).toContain('pasword');
      expect(err.problems.join('\n')).toContain('bogusKey');
      expect(err.message).not.toContain(password);
    });

    it('never puts a password into a ConfigError raised for a schema problem elsewhere', () => {
      const file = writeYaml(`
tagTtl: banana
upstreams:
  ghcr.io:
    url: https://ghcr.io
    username: robot
    password: ${password}
    retries: -1
`);
      const err = configError(() => loadConfig({ file }));
      expect(err.problems.length).toBeGreaterThanOrEqual(2);
      expect(err.message).not.toContain(password);
    });
  });

  describe('result', () => {
    it('is deeply frozen', () => {
      const config = loadConfig({ file: writeYaml('upstreams:\n  registry.local:\n    url: https://registry.local\n    aliases: [a.local]\n') });
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
      const a = loadConfig({ file: writeYaml('upstreams:\n  quay.io: null\n') });
      const b = loadConfig({});
      expect(a.upstreams).toHaveLength(6);
      expect(b.upstreams).toHaveLength(7);
    });
  });
});
