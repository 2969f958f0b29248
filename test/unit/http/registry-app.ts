// The HTTP layer alone over loopback: the real app and response model, in front of a scripted core that records what it was asked.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
import { request } from 'undici';
import type { BlobAnswer } from '../../../src/cache/blob-cache.js';
import type { OpenBlob } from '../../../src/cache/serve-verification.js';
import type { Upstream } from '../../../src/cache/ports.js';
import type { ManifestAnswer, ReferrersAnswer, TagListAnswer } from '../../../src/cache/pull-through.js';
import { tagPage, type TagPage } from '../../../src/oci/tag-list.js';
import { getRequestListener } from '@hono/node-server';
import { createApp, nodeFetch, type AppDeps } from '../../../src/http/app.js';
import type { ClientAuth } from '../../../src/http/client-auth.js';
import { createRequestListener } from '../../../src/http/registry-listener.js';
import type { RegistryCore } from '../../../src/http/registry-routes.js';
import { BufferPool } from '../../../src/http/send-file.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { UpstreamRouter } from '../../../src/upstream/router.js';

export const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A blob the scripted core serves from "disk", with a record of what was opened. */
export interface ScriptedBlob {
  readonly bytes: Buffer;
  /** Served from memory (one write) instead of through random access. */
  readonly inMemory?: boolean;
}

export interface CoreCall {
  readonly method: 'manifest' | 'blob' | 'listTags' | 'referrers';
  readonly upstream: string;
  readonly repository: string;
  readonly reference?: string;
  readonly head?: boolean;
  readonly accept?: string | undefined;
}

/** A PullThrough-shaped core: manifests and blobs by digest or tag, or an error to throw for a reference. */
export class ScriptedCore implements RegistryCore {
  readonly calls: CoreCall[] = [];
  /** Starts of byte ranges opened through `file`: a HEAD must open none. */
  readonly opened: number[] = [];
  readonly manifests = new Map<string, { body: Buffer; mediaType: string }>();
  readonly blobs = new Map<string, ScriptedBlob>();
  readonly failures = new Map<string, unknown>();

  async manifest(
    route: Parameters<RegistryCore['manifest']>[0],
    reference: string,
    request: { accept: string | undefined; head: boolean },
  ): Promise<ManifestAnswer> {
    this.calls.push({ method: 'manifest', upstream: route.upstream.name, repository: route.repository, reference, head: request.head, accept: request.accept });
    if (this.failures.has(reference)) throw this.failures.get(reference);
    const manifest = this.manifests.get(reference);
    if (!manifest) throw new Error(`scripted core: no manifest ${reference}`);
    return {
      digest: sha256(manifest.body),
      mediaType: manifest.mediaType,
      size: manifest.body.length,
      body: request.head ? undefined : manifest.body,
      result: 'hit',
    };
  }

  async blob(route: Parameters<RegistryCore['blob']>[0], reference: string, request: { head: boolean }): Promise<BlobAnswer> {
    this.calls.push({ method: 'blob', upstream: route.upstream.name, repository: route.repository, reference, head: request.head });
    if (this.failures.has(reference)) throw this.failures.get(reference);
    const blob = this.blobs.get(reference);
    if (!blob) throw new Error(`scripted core: no blob ${reference}`);
    if (request.head) return { size: blob.bytes.length, result: 'hit' };
    const file = async (start: number): Promise<OpenBlob> => {
      this.opened.push(start);
      return {
        access: {
          read: async (buffer, position) => blob.bytes.copy(buffer, 0, position, Math.min(blob.bytes.length, position + buffer.length)),
          close: async () => undefined,
        },
        done: () => undefined,
      };
    };
    return { size: blob.bytes.length, result: 'hit', file, ...(blob.inMemory ? { bytes: blob.bytes } : {}) };
  }

  /** The tags a, b, c, paged as the core pages them. */
  async listTags(route: Parameters<RegistryCore['listTags']>[0], page: TagPage): Promise<TagListAnswer> {
    this.calls.push({ method: 'listTags', upstream: route.upstream.name, repository: route.repository, reference: JSON.stringify(page) });
    return { ...tagPage(['a', 'b', 'c'], page), result: 'hit' };
  }

  async referrers(route: Parameters<RegistryCore['referrers']>[0], digest: string, artifactType?: string): Promise<ReferrersAnswer> {
    this.calls.push({ method: 'referrers', upstream: route.upstream.name, repository: route.repository, reference: `${digest} ${artifactType ?? '(all)'}` });
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    return { manifests: [], body, filtered: artifactType !== undefined, source: 'none', checkedAt: 0, result: 'hit' };
  }
}

function upstream(name: string): Upstream {
  const never = (): never => {
    throw new Error('the HTTP tests never reach an upstream');
  };
  return { name, private: false, offline: false, getManifest: never, headManifest: never, getBlob: never, headBlob: never, listTags: never, referrers: never };
}

export interface AnswerOf {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export interface RegistryApp {
  readonly url: string;
  readonly port: number;
  readonly core: ScriptedCore;
  /** The request log lines so far. */
  readonly logs: Array<Record<string, unknown>>;
  fetch(path: string, init?: { method?: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE'; headers?: Record<string, string> }): Promise<AnswerOf>;
  close(): Promise<void>;
}

/** The listener as main.ts serves it (the plain registry listener, hono for the rest), routing docker.io (default) and ghcr.io. */
export async function startRegistryApp(options: { core?: ScriptedCore; honoOnly?: boolean; clientAuth?: ClientAuth } = {}): Promise<RegistryApp> {
  const core = options.core ?? new ScriptedCore();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const router = new UpstreamRouter(
    [
      { upstream: upstream('docker.io'), aliases: ['index.docker.io'] },
      { upstream: upstream('ghcr.io'), aliases: [] },
    ],
    'docker.io',
  );
  const deps: AppDeps = {
    pullThrough: core,
    router,
    buffers: new BufferPool(64, 4, 16),
    metrics: new Metrics({ processMetrics: false }),
    log: createLogger('info', sink),
    metricsRegistry: new Registry(),
    readiness: async () => [],
    ...(options.clientAuth ? { clientAuth: options.clientAuth } : {}),
  };
  // honoOnly: every request through hono, as before the plain registry listener (the split's reference).
  const listener = options.honoOnly ? getRequestListener(nodeFetch(createApp(deps))) : createRequestListener(deps);
  const server = await new Promise<Server>((resolve) => {
    const s = createServer(listener).listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    core,
    logs,
    async fetch(path, init = {}) {
      const response = await request(`${url}${path}`, { method: init.method ?? 'GET', headers: init.headers ?? {} });
      const body = Buffer.from(await response.body.arrayBuffer());
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      return { status: response.statusCode, headers, body };
    },
    close: () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
