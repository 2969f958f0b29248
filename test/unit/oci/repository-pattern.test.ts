// repositoryMatcher: pin patterns as operators write them — exact names, `*` in one component, `**` across.
import { describe, expect, it } from 'vitest';
import { repositoryMatcher } from '../../../src/oci/repository-pattern.js';

describe('repositoryMatcher', () => {
  it('matches nothing with no patterns', () => {
    const match = repositoryMatcher([]);
    for (const name of ['', 'a', 'docker.io/library/nginx', '*', '**']) expect(match(name)).toBe(false);
  });

  it('matches an exact name and nothing longer, shorter or around it', () => {
    const match = repositoryMatcher(['docker.io/library/nginx']);
    expect(match('docker.io/library/nginx')).toBe(true);
    expect(match('docker.io/library/nginx2')).toBe(false);
    expect(match('docker.io/library/ngin')).toBe(false);
    expect(match('docker.io/library/nginx/sub')).toBe(false);
    expect(match('x/docker.io/library/nginx')).toBe(false);
    expect(match('docker.io/library')).toBe(false);
  });

  it('matches `*` within one path component only', () => {
    const match = repositoryMatcher(['library/*']);
    expect(match('library/nginx')).toBe(true);
    expect(match('library/redis')).toBe(true);
    expect(match('library/a/b')).toBe(false);
    expect(match('library')).toBe(false);
    expect(match('other/nginx')).toBe(false);
  });

  it('matches `*` as part of a component', () => {
    const match = repositoryMatcher(['ghcr.io/team/*-api']);
    expect(match('ghcr.io/team/orders-api')).toBe(true);
    expect(match('ghcr.io/team/-api')).toBe(true);
    expect(match('ghcr.io/team/orders-api-v2')).toBe(false);
    expect(match('ghcr.io/team/x/orders-api')).toBe(false);
  });

  it('matches `**` across components', () => {
    const match = repositoryMatcher(['docker.io/bitnami/**']);
    expect(match('docker.io/bitnami/redis')).toBe(true);
    expect(match('docker.io/bitnami/charts/redis')).toBe(true);
    expect(match('docker.io/bitnami/a/b/c/d')).toBe(true);
    expect(match('docker.io/bitnamix/redis')).toBe(false);
    expect(match('quay.io/bitnami/redis')).toBe(false);
  });

  it('matches `**` at the start and in the middle', () => {
    const leading = repositoryMatcher(['**/nginx']);
    expect(leading('docker.io/library/nginx')).toBe(true);
    expect(leading('ghcr.io/nginx')).toBe(true);
    expect(leading('docker.io/library/nginx-unprivileged')).toBe(false);

    const middle = repositoryMatcher(['ghcr.io/**/base']);
    expect(middle('ghcr.io/org/team/base')).toBe(true);
    expect(middle('ghcr.io/org/base')).toBe(true);
    expect(middle('ghcr.io/org/base/extra')).toBe(false);
  });

  it('treats regular expression characters in a pattern literally', () => {
    const match = repositoryMatcher(['registry.local:5000/a.b']);
    expect(match('registry.local:5000/a.b')).toBe(true);
    expect(match('registry.local:5000/axb')).toBe(false);
    expect(match('registryxlocal:5000/a.b')).toBe(false);

    expect(repositoryMatcher(['a.b'])('axb')).toBe(false);
    expect(repositoryMatcher(['a+b'])('aab')).toBe(false);
    expect(repositoryMatcher(['a+b'])('a+b')).toBe(true);
    expect(repositoryMatcher(['a?b'])('ab')).toBe(false);
    expect(repositoryMatcher(['(a|b)'])('a')).toBe(false);
    expect(repositoryMatcher(['(a|b)'])('(a|b)')).toBe(true);
    expect(repositoryMatcher(['[ab]'])('a')).toBe(false);
    expect(repositoryMatcher(['a$|^b'])('b')).toBe(false);
    expect(repositoryMatcher(['a\\d'])('a1')).toBe(false);
  });

  it('matches when any of several patterns does', () => {
    const match = repositoryMatcher(['docker.io/library/nginx', 'ghcr.io/org/*', 'quay.io/**']);
    expect(match('docker.io/library/nginx')).toBe(true);
    expect(match('ghcr.io/org/app')).toBe(true);
    expect(match('quay.io/a/b/c')).toBe(true);
    expect(match('docker.io/library/redis')).toBe(false);
    expect(match('ghcr.io/org/app/sub')).toBe(false);
  });
});
