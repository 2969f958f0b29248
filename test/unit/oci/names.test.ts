// Repository and tag grammar (distribution/reference) and the host-looking first path component.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OciError } from '../../../src/oci/errors.js';
import { assertRepository, assertTag, isValidRepository, isValidTag, looksLikeHost, maxNameLength } from '../../../src/oci/names.js';

describe('repository names', () => {
  it.each(['nginx', 'library/nginx', 'team/app/api', 'a__b', 'a_b', 'a-b--c', 'a.b', 'a0/b1/c2', 'x'.repeat(maxNameLength)])('accepts %s', (name) => {
    expect(isValidRepository(name)).toBe(true);
    expect(assertRepository(name)).toBe(name);
  });

  it.each([
    ['uppercase', 'Library/nginx'],
    ['uppercase in a later component', 'library/Nginx'],
    ['leading dot', '.nginx'],
    ['leading dash', '-nginx'],
    ['leading underscore', '_nginx'],
    ['trailing dash', 'nginx-'],
    ['trailing dot', 'nginx.'],
    ['trailing underscore', 'nginx_'],
    ['double dot', 'a..b'],
    ['dot-dot component', 'library/../nginx'],
    ['single dot component', 'library/./nginx'],
    ['triple underscore', 'a___b'],
    ['empty component', 'library//nginx'],
    ['leading slash', '/library/nginx'],
    ['trailing slash', 'library/nginx/'],
    ['empty', ''],
    ['space', 'library/ngi nx'],
    ['colon', 'library/nginx:latest'],
    ['at sign', 'library/nginx@sha256'],
    ['percent', 'library%2Fnginx'],
    ['backslash', 'library\\nginx'],
    ['over 255 characters', 'x'.repeat(maxNameLength + 1)],
    ['over 255 characters across components', `${'a'.repeat(128)}/${'b'.repeat(127)}`],
  ])('rejects %s', (_label, name) => {
    expect(isValidRepository(name)).toBe(false);
    try {
      assertRepository(name);
      expect.unreachable('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(OciError);
      expect((err as OciError).code).toBe('NAME_INVALID');
      expect((err as OciError).status).toBe(400);
    }
  });

  it("uses distribution's 255-character limit", () => {
    expect(maxNameLength).toBe(255);
  });
});

describe('tags', () => {
  const cosignTag = `sha256-${createHash('sha256').update('x').digest('hex')}.sig`;

  it.each(['latest', 'v1.2.3', '1.25-alpine', '_private', 'UPPER_case', cosignTag, 'a'.repeat(128)])('accepts %s', (tag) => {
    expect(isValidTag(tag)).toBe(true);
    expect(assertTag(tag)).toBe(tag);
  });

  it.each([
    ['129 characters', 'a'.repeat(129)],
    ['leading dot', '.latest'],
    ['leading dash', '-latest'],
    ['empty', ''],
    ['colon', 'sha256:abc'],
    ['slash', 'v1/latest'],
    ['plus', 'v1+build'],
    ['space', 'v 1'],
  ])('rejects %s', (_label, tag) => {
    expect(isValidTag(tag)).toBe(false);
    expect(() => assertTag(tag)).toThrow(OciError);
  });
});

describe('looksLikeHost', () => {
  it.each(['ghcr.io', 'docker.io', 'localhost', 'localhost:5000', '127.0.0.1:5000', '127.0.0.1', 'registry.local:5000', 'public.ecr.aws'])(
    'treats %s as a registry host',
    (component) => {
      expect(looksLikeHost(component)).toBe(true);
    },
  );

  it.each(['library', 'team', 'nginx', 'my-org', 'a_b', '', '.io', 'ghcr.io:', 'ghcr.io:123456', 'gh cr.io'])(
    'does not treat %j as a registry host',
    (component) => {
      expect(looksLikeHost(component)).toBe(false);
    },
  );
});
