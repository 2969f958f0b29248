// KnownSizes: descriptor sizes from served manifests, kept per upstream repository so that another
// repository's manifest cannot make a blob unfetchable.
import { describe, expect, it } from 'vitest';
import { KnownSizes } from '../../../src/cache/known-sizes.js';
import type { Route, Upstream } from '../../../src/cache/ports.js';

const upstream = (name: string) => ({ name, private: false, offline: false }) as unknown as Upstream;
const route = (name: string, repository: string): Route => ({ upstream: upstream(name), repository });
const layer = `sha256:${'a'.repeat(64)}`;
const config = `sha256:${'b'.repeat(64)}`;
const child = `sha256:${'c'.repeat(64)}`;

const manifest = (layerSize: number) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 120 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: layerSize }],
    }),
  );

describe('KnownSizes', () => {
  it('learns config, layer and index child sizes from a manifest, for its own repository only', () => {
    const sizes = new KnownSizes();
    const app = route('docker.io', 'library/app');
    sizes.learnManifest(app, `sha256:${'1'.repeat(64)}`, manifest(5000));
    expect(sizes.get(app, layer)).toBe(5000);
    expect(sizes.get(app, config)).toBe(120);
    expect(sizes.get(route('docker.io', 'evil/app'), layer)).toBeUndefined();
    expect(sizes.get(route('ghcr.io', 'library/app'), layer)).toBeUndefined();

    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: child, size: 777 }] }),
    );
    sizes.learnManifest(app, `sha256:${'2'.repeat(64)}`, index);
    expect(sizes.get(app, child)).toBe(777);
  });

  it('ignores what is not a size, and learns HEAD answers', () => {
    const sizes = new KnownSizes();
    const app = route('docker.io', 'library/app');
    sizes.learnManifest(app, `sha256:${'3'.repeat(64)}`, manifest(-1));
    expect(sizes.get(app, layer)).toBeUndefined();
    sizes.learnManifest(app, `sha256:${'4'.repeat(64)}`, Buffer.from('not json'));
    sizes.learn(app, layer, undefined);
    expect(sizes.get(app, layer)).toBeUndefined();
    sizes.learn(app, layer, 42);
    expect(sizes.get(app, layer)).toBe(42);
  });
});
