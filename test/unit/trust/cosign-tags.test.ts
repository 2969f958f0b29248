// cosign attachment tags and the OCI referrers fallback tag, both ways.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attachmentTag, parseAttachmentTag, parseReferrersTag, referrersTag } from '../../../src/trust/cosign-tags.js';

const hex = createHash('sha256').update('image').digest('hex');
const hex512 = createHash('sha512').update('image').digest('hex');

describe('attachment tags', () => {
  it('names the .sig, .att and .sbom tags as cosign does and reads them back', () => {
    for (const kind of ['sig', 'att', 'sbom'] as const) {
      const tag = attachmentTag(`sha256:${hex}`, kind);
      expect(tag).toBe(`sha256-${hex}.${kind}`);
      expect(parseAttachmentTag(tag)).toEqual({ digest: `sha256:${hex}`, kind });
    }
  });

  it('reads nothing into tags that only look similar', () => {
    for (const tag of [
      'latest',
      `sha256-${hex}`,
      `sha256-${hex}.sig.sig`,
      `sha256-${hex.slice(1)}.sig`,
      `sha256-${hex.toUpperCase()}.sig`,
      `sha512-${hex}.sig`,
      `md5-${hex}.sig`,
    ]) {
      expect(parseAttachmentTag(tag), tag).toBeUndefined();
    }
    expect(parseAttachmentTag(`sha512-${hex512}.att`)).toEqual({ digest: `sha512:${hex512}`, kind: 'att' });
  });
});

describe('referrers fallback tag', () => {
  it('is <alg>-<hex> for sha256 and reads back', () => {
    expect(referrersTag(`sha256:${hex}`)).toBe(`sha256-${hex}`);
    expect(parseReferrersTag(`sha256-${hex}`)).toBe(`sha256:${hex}`);
  });

  it('truncates the reference to 64 characters, as the distribution spec says, and so names no sha512 digest', () => {
    const tag = referrersTag(`sha512:${hex512}`);
    expect(tag).toBe(`sha512-${hex512.slice(0, 64)}`);
    expect(parseReferrersTag(tag)).toBeUndefined();
  });

  it('is not confused with attachment tags', () => {
    expect(parseReferrersTag(`sha256-${hex}.sig`)).toBeUndefined();
  });
});
