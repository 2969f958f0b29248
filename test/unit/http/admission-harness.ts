// The admission sub-app with a scripted judgement, a captured log and its own counter, and the fixtures it is driven with.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createAdmissionRoutes, type AdmissionRoutesDeps } from '../../../src/http/admission-routes.js';
import { defaultAdmissionSettings, type AdmissionSettings } from '../../../src/http/admission-settings.js';
import type { ImageJudge, ImageVerdict, JudgeContext } from '../../../src/http/image-judge.js';
import { createLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures', 'admission');

/** A response body as parsed JSON (any: tests read into it freely). */
export async function json(res: Response): Promise<any> {
  return res.json();
}

/** A fixture as parsed JSON (`validate/pod-create.request.json`). */
export function fixture(path: string): any {
  return JSON.parse(readFileSync(join(fixtures, path), 'utf8'));
}

export const images = {
  nginx: 'nginx:1.27',
  nginx128: 'nginx:1.28',
  migrate: 'ghcr.io/org/migrate:2.4.1',
  shipper: 'registry.corp.example/platform/log-shipper@sha256:5e0c4f5f8f9e0b1d6a2c3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081',
  busybox: 'busybox:1.36',
  lookalike: 'docker.io.evil.example/library/nginx:1.27',
  unsigned: 'ghcr.io/org/unsigned:1.0',
  kubeProxy: 'registry.k8s.io/kube-proxy:v1.32.4',
  nodeExporter: 'quay.io/prometheus/node-exporter:v1.8.2',
  postgresLookalike: 'docker.io.evil.example/library/postgres:16',
  app: 'ghcr.io/org/app:2.4.1',
  report: 'registry.corp.example/platform/report@sha256:0d4c2b1a9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f5e',
} as const;

const allow = (reason: string): ImageVerdict => ({ verdict: 'allow', reason });
const notServed = (registry: string): ImageVerdict => ({ verdict: 'deny', reason: `registry "${registry}" is not served by this mirror` });

/** What the judgement says of each fixture image; kube-proxy is left out on purpose: only exempt reviews name it. */
export const scripted: Readonly<Record<string, ImageVerdict>> = {
  [images.nginx]: allow('docker.io/library/nginx: served by docker.io, admitted by its allowlist'),
  [images.nginx128]: allow('docker.io/library/nginx: served by docker.io, admitted by its allowlist'),
  [images.migrate]: allow('ghcr.io/org/migrate: served by ghcr.io'),
  [images.shipper]: allow('registry.corp.example/platform/log-shipper: signed by platform'),
  [images.busybox]: { verdict: 'deny', reason: 'repository library/busybox is not in the allow list of docker.io' },
  [images.lookalike]: notServed('docker.io.evil.example'),
  [images.postgresLookalike]: notServed('docker.io.evil.example'),
  [images.unsigned]: { verdict: 'warn', reason: 'signature policy "platform" (warn): no signature found' },
  [images.nodeExporter]: allow('quay.io/prometheus/node-exporter: served by quay.io'),
  [images.app]: allow('ghcr.io/org/app: served by ghcr.io'),
  [images.report]: allow('registry.corp.example/platform/report: signed by platform'),
};

export interface Harness {
  readonly post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Response>;
  readonly request: (path: string, init: RequestInit) => Promise<Response>;
  /** Every judgement asked for, in order. */
  readonly asked: Array<{ image: string; context: Omit<JudgeContext, 'signal'> }>;
  readonly lines: Array<Record<string, any>>;
  readonly count: (endpoint: string, verdict: string) => Promise<number>;
}

export function harness(
  settings: Partial<AdmissionSettings> = {},
  options: { judge?: ImageJudge; verdicts?: Readonly<Record<string, ImageVerdict>> } & Partial<Pick<AdmissionRoutesDeps, 'maxBodyBytes' | 'deadlineMs'>> = {},
): Harness {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, any>);
      done();
    },
  });
  const decisions = new Metrics({ processMetrics: false }).admissionDecisions;
  const asked: Harness['asked'] = [];
  const verdicts = options.verdicts ?? scripted;
  const script: ImageJudge = async (image) => verdicts[image] ?? { verdict: 'deny', reason: `unscripted image ${image}` };
  const judge = options.judge ?? script;
  const app = createAdmissionRoutes({
    judge: (image, context) => {
      asked.push({ image, context: { endpoint: context.endpoint, namespace: context.namespace } });
      return judge(image, context);
    },
    settings: { ...defaultAdmissionSettings, ...settings },
    decisions,
    log: createLogger('debug', sink),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs }),
  });
  const request = async (path: string, init: RequestInit) => app.request(path, init);
  const post = (path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    request(path, { method: 'POST', headers, body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) });
  const count = async (endpoint: string, verdict: string) =>
    (await decisions.get()).values.find((v) => v.labels.endpoint === endpoint && v.labels.verdict === verdict)?.value ?? 0;
  return { post, request, asked, lines, count };
}
