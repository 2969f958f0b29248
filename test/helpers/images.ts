// Deterministic test content (real gzip'd tar layers, image configs, indexes, artifacts) pushed over the registry API.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface RegistryTarget {
  url: string;
  auth?: { username: string; password: string };
}

export interface Blob {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Buffer;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PushedImage {
  repository: string;
  /** The tag it was pushed under; undefined when pushed by digest only. */
  tag: string | undefined;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  config: Blob;
  layers: Blob[];
}

export interface PushedIndex {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  images: PushedImage[];
}

export interface ImageOptions {
  layerSizes: number[];
  seed: string;
  platform?: Platform;
  mediaType?: 'oci' | 'docker';
  /** The config's OCI labels (config.Labels), as `LABEL` in a Dockerfile sets them. */
  labels?: Record<string, string>;
  /** The manifest's annotations (`org.opencontainers.image.source`, …). */
  annotations?: Record<string, string>;
}

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  helmConfig: 'application/vnd.cncf.helm.config.v1+json',
  helmChart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
} as const;

export function sha256(buf: Buffer | string): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** sha256(seed:counter) blocks concatenated: deterministic and incompressible. */
export function pseudoRandomBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, counter = 0; offset < size; counter++) {
    offset += createHash('sha256').update(`${seed}:${counter}`).digest().copy(out, offset);
  }
  return out;
}

interface TarEntry {
  name: string;
  content?: Buffer;
}

function tarHeader(name: string, size: number, dir: boolean): Buffer {
  const h = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => h.write(value, offset, length, 'ascii');
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0') + '\0';
  put(name, 0, 100);
  put(octal(dir ? 0o755 : 0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put('        ', 148, 8);
  put(dir ? '5' : '0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

/** Minimal ustar writer: directories (names ending in '/') and regular files, names < 100 bytes. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, content } of entries) {
    if (Buffer.byteLength(name) >= 100) throw new Error(`tar name too long: ${name}`);
    const dir = name.endsWith('/');
    const body = dir ? Buffer.alloc(0) : (content ?? Buffer.alloc(0));
    parts.push(tarHeader(name, body.length, dir), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function safeName(seed: string): string {
  return seed.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
}

function makeBlob(bytes: Buffer, mediaType: string): Blob {
  return { digest: sha256(bytes), size: bytes.length, mediaType, bytes };
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function descriptor(b: Blob, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size, ...extra };
}

function headers(reg: RegistryTarget, extra: Record<string, string> = {}): Record<string, string> {
  if (!reg.auth) return extra;
  const token = Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64');
  return { authorization: `Basic ${token}`, ...extra };
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status}: ${await res.text()}`);
  }
}

export async function pushBlob(reg: RegistryTarget, repository: string, blob: Blob): Promise<void> {
  const start = await fetch(`${reg.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: headers(reg) });
  await expectStatus(start, 202, `start upload to ${repository}`);
  await start.arrayBuffer();
  // Append rather than use searchParams: re-serialising would re-encode the opaque _state token.
  const base = new URL(start.headers.get('location') ?? '', reg.url).href;
  const location = `${base}${base.includes('?') ? '&' : '?'}digest=${encodeURIComponent(blob.digest)}`;
  const put = await fetch(location, {
    method: 'PUT',
    headers: headers(reg, { 'content-type': 'application/octet-stream' }),
    body: blob.bytes,
  });
  await expectStatus(put, 201, `upload ${blob.digest} to ${repository}`);
  await put.arrayBuffer();
}

export async function pushManifest(reg: RegistryTarget, repository: string, reference: string, manifest: Buffer, mediaType: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: headers(reg, { 'content-type': mediaType }),
    body: manifest,
  });
  await expectStatus(res, 201, `put manifest ${repository}:${reference}`);
  await res.arrayBuffer();
  return sha256(manifest);
}

async function pushArtifact(
  reg: RegistryTarget,
  repository: string,
  tag: string | undefined,
  config: Blob,
  layers: Array<{ blob: Blob; annotations?: Record<string, string> }>,
  mediaType: string,
  annotations?: Record<string, string>,
): Promise<PushedImage> {
  for (const blob of [config, ...layers.map((l) => l.blob)]) await pushBlob(reg, repository, blob);
  const manifest = jsonBytes({
    schemaVersion: 2,
    mediaType,
    config: descriptor(config),
    layers: layers.map((l) => descriptor(l.blob, l.annotations ? { annotations: l.annotations } : {})),
    ...(annotations ? { annotations } : {}),
  });
  const digest = sha256(manifest);
  await pushManifest(reg, repository, tag ?? digest, manifest, mediaType);
  return { repository, tag, digest, mediaType, manifest, config, layers: layers.map((l) => l.blob) };
}

export async function pushImage(reg: RegistryTarget, repository: string, tag: string | undefined, opts: ImageOptions): Promise<PushedImage> {
  const docker = opts.mediaType === 'docker';
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const diffIds: string[] = [];
  const layers = opts.layerSizes.map((size, i) => {
    const layerSeed = `${opts.seed}/layer/${i}`;
    const uncompressed = tar([{ name: 'data/' }, { name: `data/${safeName(layerSeed)}.bin`, content: pseudoRandomBytes(layerSeed, size) }]);
    diffIds.push(sha256(uncompressed));
    return { blob: makeBlob(gzipSync(uncompressed), docker ? MediaTypes.dockerLayer : MediaTypes.ociLayer) };
  });
  const config = makeBlob(
    jsonBytes({
      created: '1970-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], ...(opts.labels ? { Labels: opts.labels } : {}) },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `tender test layer ${i}` })),
    }),
    docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig,
  );
  return pushArtifact(reg, repository, tag, config, layers, docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest, opts.annotations);
}

export async function pushIndex(
  reg: RegistryTarget,
  repository: string,
  tag: string,
  opts: { seed: string; platforms: Platform[]; layerSizes: number[] },
): Promise<PushedIndex> {
  const images: PushedImage[] = [];
  for (const platform of opts.platforms) {
    const seed = `${opts.seed}/${platform.os}/${platform.architecture}/${platform.variant ?? ''}`;
    images.push(await pushImage(reg, repository, undefined, { seed, platform, layerSizes: opts.layerSizes }));
  }
  const mediaType = MediaTypes.ociIndex;
  const manifest = jsonBytes({
    schemaVersion: 2,
    mediaType,
    manifests: images.map((img, i) => ({
      mediaType: img.mediaType,
      digest: img.digest,
      size: img.manifest.length,
      platform: opts.platforms[i],
    })),
  });
  const digest = await pushManifest(reg, repository, tag, manifest, mediaType);
  return { repository, tag, digest, mediaType, manifest, images };
}

export async function pushHelmChart(reg: RegistryTarget, repository: string, tag: string, seed: string): Promise<PushedImage> {
  const name = safeName(seed).toLowerCase();
  const version = tag;
  const chartYaml = `apiVersion: v2\nname: ${name}\nversion: ${version}\ndescription: tender test chart\n`;
  const config = makeBlob(jsonBytes({ apiVersion: 'v2', name, version }), MediaTypes.helmConfig);
  const chart = makeBlob(gzipSync(tar([{ name: `${name}/` }, { name: `${name}/Chart.yaml`, content: Buffer.from(chartYaml) }])), MediaTypes.helmChart);
  return pushArtifact(reg, repository, tag, config, [{ blob: chart }], MediaTypes.ociManifest);
}

export async function pushCosignSignature(reg: RegistryTarget, repository: string, subjectDigest: string, seed: string): Promise<PushedImage> {
  const payload = makeBlob(
    jsonBytes({
      critical: {
        identity: { 'docker-reference': repository },
        image: { 'docker-manifest-digest': subjectDigest },
        type: 'cosign container image signature',
      },
      optional: { seed },
    }),
    MediaTypes.cosignSimpleSigning,
  );
  const config = makeBlob(
    jsonBytes({
      architecture: '',
      os: '',
      created: '0001-01-01T00:00:00Z',
      config: {},
      rootfs: { type: 'layers', diff_ids: [payload.digest] },
      history: [{ created: '0001-01-01T00:00:00Z' }],
    }),
    MediaTypes.ociConfig,
  );
  // Not a real signature: tests only need the bytes to be stable and opaque.
  const signature = createHash('sha256').update(`${seed}:signature`).digest('base64');
  const tag = `${subjectDigest.replace(':', '-')}.sig`;
  return pushArtifact(
    reg,
    repository,
    tag,
    config,
    [{ blob: payload, annotations: { 'dev.cosignproject.cosign/signature': signature } }],
    MediaTypes.ociManifest,
  );
}
