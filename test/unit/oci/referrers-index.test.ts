// The referrers list read from a hostile upstream and written back canonically.
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../../src/oci/digest.js';
import { filterReferrers, parseReferrersIndex, referrersIndexBody, referrersTag } from '../../../src/oci/referrers-index.js';

const digest = `sha256:${'a'.repeat(64)}`;
const index = (manifests: unknown, extra: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests, ...extra }));

describe('parseReferrersIndex', () => {
  it('keeps descriptors of manifests and indexes, and only their spec fields', () => {
    const parsed = parseReferrersIndex(
      index([
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: 1,
          artifactType: 'a/b',
          annotations: { k: 'v' },
          urls: ['http://x'],
          platform: {},
        },
        { mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: 2, artifactType: '' },
      ]),
    );
    expect(parsed).toEqual({
      ok: true,
      dropped: 0,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1, artifactType: 'a/b', annotations: { k: 'v' } },
        { mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: 2 },
      ],
    });
  });

  it('refuses what is no image index, and takes an answer without manifests as an empty one', () => {
    for (const body of [
      '<html>',
      '[]',
      '{"schemaVersion":1}',
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
      '{"schemaVersion":2,"manifests":{}}',
    ]) {
      expect(parseReferrersIndex(Buffer.from(body)).ok, body).toBe(false);
    }
    expect(parseReferrersIndex(Buffer.from('{"schemaVersion":2}'))).toEqual({ ok: true, manifests: [], dropped: 0 });
  });

  it('drops malformed entries and counts them', () => {
    const good = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 3 };
    const parsed = parseReferrersIndex(
      index([
        good,
        null,
        7,
        { ...good, size: 1.5 },
        { ...good, digest: 'sha256:A' },
        { ...good, mediaType: 'application/octet-stream' },
        { ...good, annotations: [] },
        { ...good, artifactType: 5 },
      ]),
    );
    expect(parsed).toEqual({ ok: true, manifests: [good], dropped: 7 });
  });

  it('keeps an annotation named __proto__ as a key, never as a prototype', () => {
    const body = Buffer.from(
      `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${digest}","size":1,"annotations":{"__proto__":"x","polluted":"y"}}]}`,
    );
    const parsed = parseReferrersIndex(body);
    if (!parsed.ok) throw new Error(parsed.problem);
    const annotations = parsed.manifests[0]!.annotations!;
    expect(Object.keys(annotations)).toEqual(['__proto__', 'polluted']);
    expect(Object.getPrototypeOf(annotations)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.parse(referrersIndexBody(parsed.manifests).toString()).manifests[0].annotations).toEqual(JSON.parse('{"__proto__":"x","polluted":"y"}'));
  });
});

describe('the referrers tag and the index tender writes', () => {
  it('names the tag <alg>-<ref> with ref cut to 64 characters', () => {
    expect(referrersTag(parseDigest(digest))).toBe(`sha256-${'a'.repeat(64)}`);
    expect(referrersTag(parseDigest(`sha512:${'b'.repeat(128)}`))).toBe(`sha512-${'b'.repeat(64)}`);
  });

  it('filters by artifactType exactly, and writes schemaVersion 2 with the index media type', () => {
    const list = [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1, artifactType: 'a/b' },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 2 },
    ];
    expect(filterReferrers(list, 'a/b')).toEqual([list[0]]);
    expect(filterReferrers(list, 'A/B')).toEqual([]);
    expect(filterReferrers(list, undefined)).toBe(list);
    expect(JSON.parse(referrersIndexBody([]).toString())).toEqual({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
  });
});
