// parseDigest: only well-formed sha256/sha512 digests pass; everything else is DIGEST_INVALID (400).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isDigest, parseDigest } from '../../../src/oci/digest.js';
import { OciError } from '../../../src/oci/errors.js';

const sha256Hex = createHash('sha256').update('hello').digest('hex');
const sha512Hex = createHash('sha512').update('hello').digest('hex');

function expectDigestInvalid(input: string): void {
  let caught: unknown;
  try {
    parseDigest(input);
  } catch (err) {
    caught = err;
  }
  expect(caught, `parseDigest(${JSON.stringify(input)}) should throw`).toBeInstanceOf(OciError);
  expect((caught as OciError).code).toBe('DIGEST_INVALID');
  expect((caught as OciError).status).toBe(400);
}

describe('parseDigest', () => {
  it('accepts a sha256 digest and splits it into algorithm and hex', () => {
    const digest = parseDigest(`sha256:${sha256Hex}`);
    expect(digest).toEqual({ algorithm: 'sha256', hex: sha256Hex, value: `sha256:${sha256Hex}` });
  });

  it('accepts a sha512 digest', () => {
    const digest = parseDigest(`sha512:${sha512Hex}`);
    expect(digest.algorithm).toBe('sha512');
    expect(digest.hex).toBe(sha512Hex);
    expect(digest.value).toBe(`sha512:${sha512Hex}`);
  });

  it.each([
    ['sha256 one hex character short', `sha256:${sha256Hex.slice(1)}`],
    ['sha256 one hex character long', `sha256:${sha256Hex}0`],
    ['sha256 with a sha512-length hex', `sha256:${sha512Hex}`],
    ['sha512 with a sha256-length hex', `sha512:${sha256Hex}`],
    ['uppercase hex', `sha256:${sha256Hex.toUpperCase()}`],
    ['uppercase algorithm', `SHA256:${sha256Hex}`],
    ['unknown algorithm', `md5:${createHash('md5').update('hello').digest('hex')}`],
    ['unknown algorithm with sha256 length', `sha384:${sha256Hex}`],
    ['empty string', ''],
    ['algorithm only', 'sha256:'],
    ['hex only', sha256Hex],
    ['non-hex characters', `sha256:${'g'.repeat(64)}`],
    ['path traversal', 'sha256:../../../../etc/passwd'],
    ['path traversal padded to 64', `sha256:${'../'.repeat(21)}a`],
    ['slash inside the hex', `sha256:${sha256Hex.slice(0, 32)}/${sha256Hex.slice(33)}`],
    ['trailing newline', `sha256:${sha256Hex}\n`],
    ['leading space', ` sha256:${sha256Hex}`],
    ['NUL byte', `sha256:${sha256Hex.slice(0, 63)}\0`],
  ])('rejects %s', (_label, input) => {
    expectDigestInvalid(input);
  });

  it('keeps error messages short for huge inputs', () => {
    try {
      parseDigest(`sha256:${'x'.repeat(100_000)}`);
      expect.unreachable('should throw');
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(300);
    }
  });
});

describe('isDigest', () => {
  it('tells digest references from tags', () => {
    expect(isDigest(`sha256:${sha256Hex}`)).toBe(true);
    expect(isDigest(`sha512:${sha512Hex}`)).toBe(true);
    expect(isDigest('latest')).toBe(false);
    expect(isDigest('sha256-abc.sig')).toBe(false);
  });
});
