// Accept negotiation for stored manifests and the media type a manifest declares in its body.
import { describe, expect, it } from 'vitest';
import {
  accepts,
  declaredMediaType,
  defaultManifestAccept,
  isManifestMediaType,
  manifestMediaType,
  maxManifestBytes,
  mediaTypes,
  parseAccept,
} from '../../../src/oci/media-types.js';

const containerdAccept =
  'application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, ' +
  'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*';

describe('parseAccept', () => {
  it('returns nothing for a missing or empty header', () => {
    expect(parseAccept(undefined)).toEqual([]);
    expect(parseAccept('')).toEqual([]);
    expect(parseAccept(' , ')).toEqual([]);
  });

  it("splits containerd's Accept list", () => {
    expect(parseAccept(containerdAccept)).toEqual([
      mediaTypes.dockerManifest,
      mediaTypes.dockerManifestList,
      mediaTypes.ociManifest,
      mediaTypes.ociIndex,
      '*/*',
    ]);
  });

  it('drops parameters such as q-values and lower-cases', () => {
    expect(parseAccept('Application/VND.OCI.Image.Index.v1+json; q=0.9 ,application/json;q=0.1')).toEqual([mediaTypes.ociIndex, 'application/json']);
  });
});

describe('accepts', () => {
  it('lets an absent Accept take any manifest', () => {
    expect(accepts([], mediaTypes.ociIndex)).toBe(true);
    expect(accepts(parseAccept(undefined), mediaTypes.dockerManifestV1Signed)).toBe(true);
  });

  it('matches each type in a list exactly', () => {
    const accept = parseAccept(`${mediaTypes.dockerManifest}, ${mediaTypes.dockerManifestList}`);
    expect(accepts(accept, mediaTypes.dockerManifest)).toBe(true);
    expect(accepts(accept, mediaTypes.dockerManifestList)).toBe(true);
    expect(accepts(accept, mediaTypes.ociIndex)).toBe(false);
    expect(accepts(accept, mediaTypes.ociManifest)).toBe(false);
  });

  it('takes anything under */*', () => {
    const accept = parseAccept(containerdAccept);
    for (const type of Object.values(mediaTypes)) expect(accepts(accept, type)).toBe(true);
    expect(accepts(parseAccept('*/*'), 'application/vnd.cncf.helm.config.v1+json')).toBe(true);
  });

  it('matches a type/* wildcard by its major type only', () => {
    const accept = parseAccept('application/*');
    expect(accepts(accept, mediaTypes.ociManifest)).toBe(true);
    expect(accepts(parseAccept('text/*'), mediaTypes.ociManifest)).toBe(false);
  });

  it('ignores q-values', () => {
    expect(accepts(parseAccept(`${mediaTypes.ociIndex};q=0.5`), mediaTypes.ociIndex)).toBe(true);
  });

  it('compares case-insensitively', () => {
    expect(accepts(parseAccept(mediaTypes.ociIndex), mediaTypes.ociIndex.toUpperCase())).toBe(true);
  });
});

describe('declaredMediaType', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));

  it('uses the mediaType field when present', () => {
    expect(declaredMediaType(json({ schemaVersion: 2, mediaType: mediaTypes.dockerManifest, layers: [] }))).toBe(mediaTypes.dockerManifest);
    expect(declaredMediaType(json({ schemaVersion: 2, mediaType: mediaTypes.dockerManifestList, manifests: [] }))).toBe(mediaTypes.dockerManifestList);
  });

  it('recognises a schema 1 manifest', () => {
    expect(declaredMediaType(json({ schemaVersion: 1, name: 'library/nginx', fsLayers: [] }))).toBe(mediaTypes.dockerManifestV1Signed);
  });

  it('infers an OCI index from a manifests array without mediaType', () => {
    expect(declaredMediaType(json({ schemaVersion: 2, manifests: [] }))).toBe(mediaTypes.ociIndex);
  });

  it('infers an OCI image manifest from config/layers without mediaType', () => {
    expect(declaredMediaType(json({ schemaVersion: 2, config: {}, layers: [] }))).toBe(mediaTypes.ociManifest);
  });

  it('gives undefined for a body that is not JSON', () => {
    expect(declaredMediaType(Buffer.from('<html>not a manifest</html>'))).toBeUndefined();
    expect(declaredMediaType(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('manifestMediaType', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const image = json({ schemaVersion: 2, mediaType: mediaTypes.dockerManifest, config: {}, layers: [] });

  it('takes the Content-Type when it is a manifest type', () => {
    expect(manifestMediaType(image, mediaTypes.dockerManifest)).toBe(mediaTypes.dockerManifest);
    expect(manifestMediaType(json({ schemaVersion: 2, manifests: [] }), mediaTypes.dockerManifestList)).toBe(mediaTypes.dockerManifestList);
  });

  it("takes the document's own type when the Content-Type is not a manifest type", () => {
    for (const label of ['text/html', 'application/json', 'application/octet-stream', undefined]) {
      expect(manifestMediaType(image, label), String(label)).toBe(mediaTypes.dockerManifest);
    }
    expect(manifestMediaType(json({ schemaVersion: 2, manifests: [] }), 'text/html')).toBe(mediaTypes.ociIndex);
    expect(manifestMediaType(json({ schemaVersion: 2, config: {}, layers: [] }), 'text/plain')).toBe(mediaTypes.ociManifest);
    expect(manifestMediaType(json({ schemaVersion: 1, fsLayers: [], signatures: [] }), 'text/html')).toBe(mediaTypes.dockerManifestV1Signed);
  });

  it('finds no manifest in bodies that are none, whatever the label', () => {
    for (const body of ['<html>sign in</html>', '', 'null', '42', '[]', '{}', '{"schemaVersion":2}', '{"schemaVersion":"2","layers":[]}']) {
      expect(manifestMediaType(Buffer.from(body), mediaTypes.ociManifest), body).toBeUndefined();
    }
    expect(manifestMediaType(json({ schemaVersion: 2, mediaType: 'text/html', layers: [] }), mediaTypes.ociManifest)).toBeUndefined();
    expect(manifestMediaType(json({ schemaVersion: 1, name: 'x' }), undefined)).toBeUndefined();
  });

  it('knows the manifest types', () => {
    expect(isManifestMediaType(mediaTypes.ociIndex)).toBe(true);
    expect(isManifestMediaType(mediaTypes.dockerManifestV1Signed)).toBe(true);
    expect(isManifestMediaType('text/html')).toBe(false);
    expect(isManifestMediaType(undefined)).toBe(false);
  });
});

describe('manifest constants', () => {
  it('caps manifests at 4 MiB like containerd', () => {
    expect(maxManifestBytes).toBe(4 * 1024 * 1024);
  });

  it('asks upstream for every manifest type containerd accepts', () => {
    const accept = parseAccept(defaultManifestAccept);
    for (const type of [mediaTypes.dockerManifest, mediaTypes.dockerManifestList, mediaTypes.ociManifest, mediaTypes.ociIndex]) {
      expect(accept).toContain(type);
    }
  });
});
