// The settings issue 16 added: tagTtls (global and per upstream), missingTagTtl, addressFamily and its attempt
// timeout, credentialBackoff, and the credential files kept for re-reading.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig, parseConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'tender-issue16-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fromYaml = (text: string) => parseConfig(parseYaml(text) ?? {});
function problems(text: string): string {
  try {
    fromYaml(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('tagTtls', () => {
  it('reads { pattern, ttl } rules in order, "never" as no expiry, globally and per upstream', () => {
    const config = fromYaml(`
tagTtls:
  - { pattern: "v*.*.*", ttl: never }
  - { pattern: latest, ttl: 1m }
upstreams:
  ghcr.io:
    url: https://ghcr.io
    tagTtls: [{ pattern: "org/app:nightly", ttl: 0 }]
`);
    expect(config.tagTtls).toEqual([
      { pattern: 'v*.*.*', ttlMs: Number.POSITIVE_INFINITY },
      { pattern: 'latest', ttlMs: 60_000 },
    ]);
    expect(config.upstreams.find((u) => u.name === 'ghcr.io')?.tagTtls).toEqual([{ pattern: 'org/app:nightly', ttlMs: 0 }]);
    expect(config.upstreams.find((u) => u.name === 'quay.io')?.tagTtls).toEqual([]);
  });

  it('names what is wrong with a rule', () => {
    const message = problems(`
tagTtls:
  - { pattern: "v 1", ttl: 1m }
  - { pattern: latest, ttl: soon }
  - { pattern: latest }
  - { pattern: latest, ttl: 1m, extra: true }
`);
    expect(message).toMatch(/tagTtls\.0\.pattern: expected a "tag" or "repository:tag" pattern/);
    expect(message).toMatch(/tagTtls\.1\.ttl: expected a duration such as "1m" or "24h", or "never"/);
    expect(message).toMatch(/tagTtls\.2\.ttl/);
    expect(message).toMatch(/tagTtls\.3.*extra/);
  });
});

describe('missingTagTtl', () => {
  it('defaults to 10 s, takes 0 (off), and comes from TENDER_MISSING_TAG_TTL', () => {
    expect(fromYaml('').missingTagTtlMs).toBe(10_000);
    expect(fromYaml('missingTagTtl: 0').missingTagTtlMs).toBe(0);
    expect(loadConfig({ env: { TENDER_MISSING_TAG_TTL: '30s' } }).missingTagTtlMs).toBe(30_000);
  });
});

describe('per-upstream network and credential settings', () => {
  it('defaults to Happy Eyeballs with a 1 s attempt, and a 5 minute credential back-off', () => {
    const docker = fromYaml('').upstreams.find((u) => u.name === 'docker.io')!;
    expect(docker).toMatchObject({ addressFamily: 'auto', addressAttemptTimeoutMs: 1_000, credentialBackoffMs: 300_000 });
  });

  it('takes ipv4 or ipv6, and refuses anything else', () => {
    const config = fromYaml('upstreams: { ghcr.io: { url: "https://ghcr.io", addressFamily: ipv6, addressAttemptTimeout: 3s, credentialBackoff: 0 } }');
    expect(config.upstreams.find((u) => u.name === 'ghcr.io')).toMatchObject({ addressFamily: 'ipv6', addressAttemptTimeoutMs: 3_000, credentialBackoffMs: 0 });
    expect(problems('upstreams: { ghcr.io: { url: "https://ghcr.io", addressFamily: ipv5 } }')).toMatch(/upstreams\.ghcr\.io\.addressFamily/);
  });

  it('keeps the files credentials came from, for re-reading; an inline value wins and its file is not watched', () => {
    const password = join(dir, 'password');
    const ca = join(dir, 'ca.pem');
    writeFileSync(password, ' from-file \n');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    const config = fromYaml(`
upstreams:
  a.example: { url: "https://a.example", username: u, passwordFile: ${JSON.stringify(password)}, ca: ${JSON.stringify(ca)} }
  b.example: { url: "https://b.example", username: u, password: inline, passwordFile: ${JSON.stringify(password)} }
`);
    const a = config.upstreams.find((u) => u.name === 'a.example')!;
    expect(a.password).toBe('from-file');
    expect(a.files).toEqual({ passwordFile: password, tokenFile: undefined, caFile: ca, clientCertFile: undefined, clientKeyFile: undefined });
    const b = config.upstreams.find((u) => u.name === 'b.example')!;
    expect(b.password).toBe('inline');
    expect(b.files.passwordFile).toBeUndefined();
  });
});
