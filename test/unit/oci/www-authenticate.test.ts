// parseChallenge on the WWW-Authenticate headers real registries send, and the pull scope we ask for.
import { describe, expect, it } from 'vitest';
import { parseChallenge, pullScope } from '../../../src/oci/www-authenticate.js';

describe('parseChallenge', () => {
  it('returns undefined without a header', () => {
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge('')).toBeUndefined();
  });

  it("parses Docker Hub's bearer challenge", () => {
    const challenge = parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"');
    expect(challenge).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
    });
  });

  it("parses ghcr's bearer challenge", () => {
    const challenge = parseChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull"');
    expect(challenge?.scheme).toBe('bearer');
    expect(challenge?.params).toEqual({ realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:org/app:pull' });
  });

  it('parses a challenge with an error parameter and spaces after commas', () => {
    const challenge = parseChallenge('Bearer realm="https://auth.example/token", service="example", scope="repository:a/b:pull", error="insufficient_scope"');
    expect(challenge?.params).toEqual({
      realm: 'https://auth.example/token',
      service: 'example',
      scope: 'repository:a/b:pull',
      error: 'insufficient_scope',
    });
  });

  it('parses a Basic challenge', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
  });

  it('keeps commas inside quoted values', () => {
    const challenge = parseChallenge('Bearer realm="https://auth.example/token",scope="repository:a/b:pull,push",service="x"');
    expect(challenge?.params.scope).toBe('repository:a/b:pull,push');
    expect(challenge?.params.service).toBe('x');
  });

  it('unescapes backslash-escaped quotes in quoted values', () => {
    expect(parseChallenge('Basic realm="say \\"hi\\""')?.params.realm).toBe('say "hi"');
  });

  it('reads unquoted values', () => {
    const challenge = parseChallenge('Bearer realm=https://auth.example/token,service=registry.example,scope=repository:a/b:pull');
    expect(challenge?.params).toEqual({
      realm: 'https://auth.example/token',
      service: 'registry.example',
      scope: 'repository:a/b:pull',
    });
  });

  it('lower-cases the scheme and parameter names but not values', () => {
    const challenge = parseChallenge('BEARER Realm="https://Auth.Example/Token",SERVICE="Reg"');
    expect(challenge?.scheme).toBe('bearer');
    expect(challenge?.params).toEqual({ realm: 'https://Auth.Example/Token', service: 'Reg' });
    expect(parseChallenge('bAsIc realm="r"')?.scheme).toBe('basic');
  });

  it('reads only the first of several challenges', () => {
    const challenge = parseChallenge('Bearer realm="https://auth.example/token",service="a", Basic realm="other"');
    expect(challenge?.scheme).toBe('bearer');
    expect(challenge?.params.realm).toBe('https://auth.example/token');
    expect(challenge?.params.service).toBe('a');
  });

  it('gives a scheme with no parameters', () => {
    expect(parseChallenge('Negotiate')).toEqual({ scheme: 'negotiate', params: {} });
  });
});

describe('pullScope', () => {
  it('builds the distribution token scope for pulling a repository', () => {
    expect(pullScope('library/nginx')).toBe('repository:library/nginx:pull');
    expect(pullScope('team/app/api')).toBe('repository:team/app/api:pull');
  });
});
