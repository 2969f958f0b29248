// Which token realms may receive an upstream's credentials (issue 10, finding 7).
import { describe, expect, it } from 'vitest';
import { matchesRealm, realmRefusal } from '../../../src/upstream/realm-policy.js';

const refusal = (realm: string, upstreamUrl: string, insecure: boolean, tokenRealms: string[] = []) =>
  realmRefusal(new URL(realm), { upstreamUrl, insecure, tokenRealms });

describe('realmRefusal', () => {
  it('allows the upstream own host, over https or (insecure) http', () => {
    expect(refusal('https://ghcr.io/token', 'https://ghcr.io', false)).toBeUndefined();
    expect(refusal('http://registry.local:5001/auth', 'http://registry.local:5000', true)).toBeUndefined();
    expect(refusal('https://registry.local:5001/auth', 'http://registry.local:5000', true)).toBeUndefined();
  });

  it('allows an https realm on another host named by an upstream reached over verified TLS', () => {
    expect(refusal('https://gitlab.example.com/jwt/auth', 'https://registry.gitlab.example.com', false)).toBeUndefined();
  });

  it('refuses a realm on another host named by an insecure upstream, http or https, unless listed', () => {
    expect(refusal('http://evil.example/token', 'http://registry.local:5000', true)).toMatch(/plain http on another host/);
    expect(refusal('https://evil.example/token', 'http://registry.local:5000', true)).toMatch(/another host.*plain http/);
    expect(refusal('https://evil.example/token', 'https://registry.local', true)).toMatch(/unverified TLS/);
    expect(refusal('https://auth.local/token', 'http://registry.local:5000', true, ['auth.local'])).toBeUndefined();
    expect(refusal('http://auth.local:5001/token', 'http://registry.local:5000', true, ['http://auth.local:5001'])).toBeUndefined();
  });

  it('never sends credentials over plain http to an upstream not marked insecure, listed or not', () => {
    expect(refusal('http://registry.example/token', 'https://registry.example', false)).toMatch(/plain http/);
    expect(refusal('http://auth.example/token', 'https://registry.example', false, ['http://auth.example'])).toMatch(/plain http/);
  });

  it('refuses other schemes and realms with user information', () => {
    expect(refusal('ftp://registry.example/token', 'https://registry.example', false)).toMatch(/scheme/);
    expect(refusal('https://u:p@registry.example/token', 'https://registry.example', false)).toMatch(/user information/);
  });
});

describe('matchesRealm', () => {
  it('matches a bare host on https only, with or without a port, case-insensitively', () => {
    expect(matchesRealm('auth.docker.io', new URL('https://auth.docker.io/token'))).toBe(true);
    expect(matchesRealm('AUTH.docker.io', new URL('https://auth.docker.io/token'))).toBe(true);
    expect(matchesRealm('auth.docker.io', new URL('http://auth.docker.io/token'))).toBe(false);
    expect(matchesRealm('auth.docker.io', new URL('https://auth.docker.io.evil.example/token'))).toBe(false);
    expect(matchesRealm('auth.example:8443', new URL('https://auth.example:8443/t'))).toBe(true);
    expect(matchesRealm('auth.example:8443', new URL('https://auth.example/t'))).toBe(false);
  });

  it('matches an origin exactly', () => {
    expect(matchesRealm('https://auth.example', new URL('https://auth.example/token'))).toBe(true);
    expect(matchesRealm('https://auth.example', new URL('https://auth.example:8443/token'))).toBe(false);
    expect(matchesRealm('http://auth.example:5001', new URL('http://auth.example:5001/token'))).toBe(true);
  });
});
