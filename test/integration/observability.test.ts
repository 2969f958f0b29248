// deploy/ checked with the real tools: kustomize renders, promtool accepts and unit-tests the alerts, and a real Prometheus
// scraping a real tender (pulls from distribution, faults from a fault upstream) answers every dashboard and alert query.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { collectDefaultMetrics } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { generateSigningKey } from '../helpers/cosign-keys.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { MediaTypes, pushImage, pushIndex, sha256, type PushedImage, type PushedIndex } from '../helpers/images.js';
import { startPrometheus, type PrometheusHandle, type Sample } from '../helpers/prometheus.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const deploy = join(root, 'deploy');
const overlays = ['large'];
const expectedKinds = ['Namespace', 'ConfigMap', 'StatefulSet', 'Service', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule'];

type Doc = Record<string, any>; // rendered Kubernetes objects

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Panel {
  type: string;
  title: string;
  id: number;
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}

async function kustomize(dir: string): Promise<Doc[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

function one(docs: Doc[], kind: string): Doc {
  const found = docs.filter((d) => d.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!;
}

async function readRules(): Promise<Rule[]> {
  const text = await readFile(join(deploy, 'base', 'prometheusrule.yaml'), 'utf8');
  const doc = parseAllDocuments(text)[0]!.toJS() as Doc;
  return (doc.spec.groups as Array<{ rules: Rule[] }>).flatMap((g) => g.rules);
}

/** A Prometheus rules file is the PrometheusRule's spec: `{groups: [...]}`. JSON is YAML. */
async function writeRulesFile(dir: string): Promise<string> {
  const text = await readFile(join(deploy, 'base', 'prometheusrule.yaml'), 'utf8');
  const doc = parseAllDocuments(text)[0]!.toJS() as Doc;
  const file = join(dir, 'tender.rules.yml');
  await writeFile(file, JSON.stringify({ groups: doc.spec.groups }, null, 2));
  return file;
}

async function readDashboard(): Promise<{ panels: Panel[]; templating: { list: Array<{ name: string; type: string }> } }> {
  return JSON.parse(await readFile(join(deploy, 'grafana', 'tender-dashboard.json'), 'utf8'));
}

/** Grafana's built-in and template variables, as a test scrape job sees them. */
const variables: Record<string, string> = {
  __rate_interval: '30s',
  __interval: '30s',
  __range: '5m',
  job: 'tender',
  instance: '.*',
  upstream: '.*',
};

function substitute(expr: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = variables[name];
    if (value === undefined) throw new Error(`dashboard query uses an unknown variable $${name}: ${expr}`);
    return value;
  });
}

const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN']);

/** Metric names an expression selects: identifiers outside strings, matchers, ranges and label lists that are not functions. */
function referencedMetrics(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w:.])[a-zA-Z_:][\w:]*/g)) {
    if (keywords.has(m[0])) continue;
    if (
      s
        .slice(m.index + m[0].length)
        .trimStart()
        .startsWith('(')
    )
      continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Splits at operators found at parenthesis depth 0, outside strings, matchers and ranges. */
function splitTopLevel(expr: string, operator: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '"') {
      for (i++; i < expr.length && expr[i] !== '"'; i++) if (expr[i] === '\\') i++;
    } else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (depth === 0) {
      const m = operator.exec(expr.slice(i));
      if (m && m.index === 0) {
        parts.push(expr.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(expr.slice(start));
  return parts.map((p) => p.trim());
}

/**
 * What an alert measures, without its threshold: each operand of a top-level and/or/unless, cut at its top-level
 * comparison, absent(x) unwrapped to x. A healthy tender has nothing to alert on, but each of these must return series.
 */
function alertProbes(expr: string): string[] {
  return splitTopLevel(expr.replace(/\s+/g, ' '), /^\s(and|or|unless)(\s+on\s*\([^)]*\))?\s/).map((operand) => {
    let lhs = splitTopLevel(operand, /^(==|!=|>=|<=|>|<)/)[0]!;
    const absent = /^absent\((.*)\)$/.exec(lhs);
    if (absent) lhs = absent[1]!;
    return lhs.replace(/^\((.*)\)$/, '$1').trim();
  });
}

function describeSample(samples: Sample[]): string {
  const first = samples[0];
  if (!first) return '(empty)';
  const labels = Object.entries(first.metric)
    .filter(([k]) => !['job', 'instance'].includes(k))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const value = Number(first.value[1]);
  const shown = Number.isInteger(value) ? String(value) : Number.isFinite(value) ? value.toPrecision(4) : first.value[1];
  return `${labels ? `{${labels}} ` : ''}${shown}${samples.length > 1 ? ` (+${samples.length - 1} more)` : ''}`;
}

function markdownTable(header: string[], rows: string[][]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
}

describeWithBinaries(['promtool', 'prometheus', 'docker-registry', 'kubectl'], 'observability: deploy/, alerts and dashboard', () => {
  describe('kustomize', () => {
    it.each(['base', ...overlays.map((o) => `overlays/${o}`)])('deploy/%s renders every kind, consistent with tender', async (layout) => {
      const docs = await kustomize(join(deploy, layout));
      for (const kind of expectedKinds)
        expect(
          docs.map((d) => d.kind),
          kind,
        ).toContain(kind);
      for (const doc of docs.filter((d) => d.kind !== 'Namespace')) expect(doc.metadata.namespace, `${doc.kind}/${doc.metadata.name}`).toBe('tender');

      const sts = one(docs, 'StatefulSet');
      const pod = sts.spec.template.spec;
      const container = pod.containers.find((c: Doc) => c.name === 'tender');
      expect(sts.spec.replicas).toBe(1);
      expect(container.image).toMatch(/^ghcr\.io\/example\/tender:/);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
      expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(container.resources.limits.memory).toBe('768Mi');
      expect(container.livenessProbe.httpGet.path).toBe('/healthz');
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');

      // The mounted config, as tender itself reads it (the environment set in the pod spec included).
      const configVolume = pod.volumes.find((v: Doc) => v.configMap);
      const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === configVolume.configMap.name);
      expect(configMap, `ConfigMap ${configVolume.configMap.name} referenced by the StatefulSet`).toBeDefined();
      const dir = await mkdtemp(join(tmpdir(), 'tender-deploy-config-'));
      const file = join(dir, 'config.yaml');
      await writeFile(file, configMap!.data['config.yaml']);
      const env = Object.fromEntries((container.env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]));
      const config = loadConfig({ file, env });
      await rm(dir, { recursive: true, force: true });
      const mountFor = (volume: string) => container.volumeMounts.find((m: Doc) => m.name === volume)?.mountPath;
      expect(env.TENDER_CONFIG).toBe(`${mountFor(configVolume.name)}/config.yaml`);
      expect(container.ports.map((p: Doc) => p.containerPort)).toContain(config.port);
      expect(config.cacheDir).toBe(mountFor('cache'));
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdownGraceMs);
      // maxCacheSize at 80-90% of the claim: tmp/, meta/ and filesystem overhead are not counted.
      const claim = sts.spec.volumeClaimTemplates.find((t: Doc) => t.metadata.name === 'cache');
      const gi = /^(\d+)Gi$/.exec(claim.spec.resources.requests.storage);
      const ratio = config.maxCacheBytes / (Number(gi![1]) * 2 ** 30);
      expect(ratio, `maxCacheSize / PVC size`).toBeGreaterThanOrEqual(0.8);
      expect(ratio, `maxCacheSize / PVC size`).toBeLessThanOrEqual(0.9);

      // Service, ServiceMonitor and NetworkPolicy point at the pod and its port.
      const service = one(docs, 'Service');
      expect(service.spec.ports.map((p: Doc) => p.port)).toContain(5000);
      expect(sts.spec.template.metadata.labels).toMatchObject(service.spec.selector);
      const monitor = one(docs, 'ServiceMonitor');
      expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
      expect(service.spec.ports.map((p: Doc) => p.name)).toContain(monitor.spec.endpoints[0].port);
      expect(service.metadata.labels[monitor.spec.jobLabel]).toBe('tender'); // alerts use up{job="tender"}
      const policy = one(docs, 'NetworkPolicy');
      expect(sts.spec.template.metadata.labels).toMatchObject(policy.spec.podSelector.matchLabels);
      expect(policy.spec.ingress.flatMap((r: Doc) => r.ports.map((p: Doc) => p.port))).toEqual([config.port]);
      expect(policy.spec.egress.flatMap((r: Doc) => r.ports.map((p: Doc) => p.port as number)).sort((a: number, b: number) => a - b)).toEqual([53, 53, 443]);
      expect(sts.spec.template.metadata.labels).toMatchObject(one(docs, 'PodDisruptionBudget').spec.selector.matchLabels);

      const dashboard = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.labels?.grafana_dashboard === '1');
      expect(JSON.parse(dashboard!.data['tender-dashboard.json']).uid).toBe('tender');
    });

    it('the large overlay grows the volume and maxCacheSize together', async () => {
      const base = one(await kustomize(join(deploy, 'base')), 'StatefulSet');
      const large = one(await kustomize(join(deploy, 'overlays', 'large')), 'StatefulSet');
      const storage = (s: Doc) => s.spec.volumeClaimTemplates[0].spec.resources.requests.storage;
      expect(storage(base)).toBe('20Gi');
      expect(storage(large)).toBe('200Gi');
    });

    it('the configured tender starts and answers the probes and /metrics', async () => {
      const docs = await kustomize(join(deploy, 'base'));
      const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('tender-config'))!;
      const dir = await mkdtemp(join(tmpdir(), 'tender-deploy-run-'));
      await writeFile(join(dir, 'config.yaml'), configMap.data['config.yaml']);
      const cli = join(root, 'src', 'cli', 'tender.ts');
      // As in the pod, except for the address and the cache directory (the environment overrides the file).
      const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve'], {
        env: { ...process.env, TENDER_CONFIG: join(dir, 'config.yaml'), TENDER_LISTEN: '127.0.0.1:0', TENDER_CACHE_DIR: join(dir, 'cache') },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const listen = await new Promise<string>((resolvePromise, reject) => {
          child.once('exit', (code) => reject(new Error(`tender exited with ${code}`)));
          createInterface({ input: child.stdout! }).on('line', (line) => {
            const entry = JSON.parse(line) as { msg?: string; listen?: string };
            if (entry.msg === 'tender is serving') resolvePromise(entry.listen!);
          });
        });
        for (const path of ['/healthz', '/readyz']) expect((await http(`http://${listen}${path}`)).status, path).toBe(200);
        const metrics = (await http(`http://${listen}/metrics`)).body.toString();
        expect(metrics).toMatch(new RegExp(`^tender_cache_max_bytes ${17 * 2 ** 30}$`, 'm'));
        expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);
        const exited = new Promise<number | null>((r) => child.once('exit', r));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      } finally {
        child.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('promtool', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tender-rules-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('check rules accepts the PrometheusRule groups', async () => {
      const file = await writeRulesFile(dir);
      const { stdout } = await run('promtool', ['check', 'rules', file]);
      const rules = await readRules();
      expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
      for (const rule of rules) {
        expect(rule.labels?.severity, `${rule.alert} severity`).toMatch(/^(critical|warning|info)$/);
        expect(rule.annotations?.summary, `${rule.alert} summary`).toBeTruthy();
        expect(rule.annotations?.description, `${rule.alert} description`).toBeTruthy();
      }
    });

    it('test rules: alerts fire on the conditions they describe and not otherwise', async () => {
      // Without annotations: promtool 2.42 compares them too, and their templates were checked above.
      const withAnnotations = JSON.parse(await readFile(await writeRulesFile(dir), 'utf8')) as { groups: Array<{ rules: Rule[] }> };
      const file = join(dir, 'tender.rules.bare.yml');
      await writeFile(
        file,
        JSON.stringify({ groups: withAnnotations.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _, ...rule }) => rule) })) }),
      );
      const t = { job: 'tender', instance: 'tender-0' };
      const series = (name: string, labels: Record<string, string>, values: string) => ({
        series: `${name}{${Object.entries(labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(',')}}`,
        values,
      });
      const tests = {
        rule_files: [file],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              series('up', { ...t }, '0x10'),
              series('up', { job: 'tender', instance: 'tender-1' }, '1x10'),
              // Cache at 95% of a cap: near the cap; another instance without a cap (max 0) must stay quiet.
              series('tender_cache_bytes', t, '950x60'),
              series('tender_cache_max_bytes', t, '1000x60'),
              series('tender_cache_bytes', { job: 'tender', instance: 'tender-1' }, '950x60'),
              series('tender_cache_max_bytes', { job: 'tender', instance: 'tender-1' }, '0x60'),
              // One digest mismatch at minute 3.
              series('tender_digest_mismatches_total', { ...t, upstream: 'docker.io', kind: 'blob' }, '0 0 0 1x10'),
              // Docker Hub quota almost used up while pulling; ghcr.io equally low but idle (stale gauge).
              series('tender_upstream_ratelimit_remaining', { ...t, upstream: 'docker.io' }, '5x20'),
              series('tender_upstream_requests_total', { ...t, upstream: 'docker.io', method: 'GET', status: '200' }, '0+10x20'),
              series('tender_upstream_ratelimit_remaining', { ...t, upstream: 'ghcr.io' }, '5x20'),
              series('tender_upstream_requests_total', { ...t, upstream: 'ghcr.io', method: 'GET', status: '200' }, '100x20'),
            ],
            alert_rule_test: [
              { eval_time: '6m', alertname: 'TenderDown', exp_alerts: [{ exp_labels: { ...t, severity: 'critical' } }] },
              { eval_time: '4m', alertname: 'TenderDown', exp_alerts: [] },
              { eval_time: '40m', alertname: 'TenderCacheNearCap', exp_alerts: [{ exp_labels: { ...t, severity: 'info' } }] },
              { eval_time: '40m', alertname: 'TenderCacheOverCap', exp_alerts: [] },
              {
                eval_time: '5m',
                alertname: 'TenderDigestMismatches',
                exp_alerts: [{ exp_labels: { upstream: 'docker.io', kind: 'blob', severity: 'warning' } }],
              },
              { eval_time: '10m', alertname: 'TenderUpstreamRateLimitLow', exp_alerts: [{ exp_labels: { upstream: 'docker.io', severity: 'warning' } }] },
            ],
          },
          {
            interval: '1m',
            input_series: [
              // 200 blob lookups an hour, a quarter of them hits: low hit ratio. Then evictions of 60% of the cap.
              series('tender_cache_results_total', { ...t, upstream: 'docker.io', kind: 'blob', result: 'hit' }, '0+1x200'),
              series('tender_cache_results_total', { ...t, upstream: 'docker.io', kind: 'blob', result: 'miss' }, '0+3x200'),
              series('tender_cache_max_bytes', t, '1000x200'),
              series('tender_cache_bytes', t, '1000x200'),
              series('tender_evicted_bytes_total', t, '0+5x200'),
              series('tender_upstream_queue_depth', { ...t, upstream: 'docker.io' }, '3x30 0x30'),
              series('tender_cache_write_errors_total', { ...t, kind: 'blob' }, '0x5 2x20'),
              // One damaged layer found at minute 8; manifests stay clean.
              series('tender_cache_corruptions_total', { ...t, kind: 'blob', reason: 'digest' }, '0x8 1x20'),
              series('tender_cache_corruptions_total', { ...t, kind: 'manifest', reason: 'size' }, '0x30'),
              // Tag records unreadable from minute 12 on; manifest records fine.
              series('tender_cache_read_errors_total', { ...t, kind: 'tag' }, '0x12 3x20'),
              series('tender_cache_read_errors_total', { ...t, kind: 'manifest' }, '0x30'),
            ],
            alert_rule_test: [
              { eval_time: '100m', alertname: 'TenderCacheHitRatioLow', exp_alerts: [{ exp_labels: { ...t, severity: 'warning' } }] },
              { eval_time: '150m', alertname: 'TenderCacheThrashing', exp_alerts: [{ exp_labels: { ...t, severity: 'warning' } }] },
              { eval_time: '20m', alertname: 'TenderUpstreamQueueBacklog', exp_alerts: [{ exp_labels: { upstream: 'docker.io', severity: 'warning' } }] },
              { eval_time: '50m', alertname: 'TenderUpstreamQueueBacklog', exp_alerts: [] },
              { eval_time: '10m', alertname: 'TenderCacheWriteErrors', exp_alerts: [{ exp_labels: { ...t, kind: 'blob', severity: 'warning' } }] },
              { eval_time: '5m', alertname: 'TenderCacheCorruption', exp_alerts: [] },
              {
                eval_time: '10m',
                alertname: 'TenderCacheCorruption',
                exp_alerts: [{ exp_labels: { ...t, kind: 'blob', reason: 'digest', severity: 'warning' } }],
              },
              { eval_time: '29m', alertname: 'TenderCacheCorruption', exp_alerts: [] },
              { eval_time: '10m', alertname: 'TenderCacheReadErrors', exp_alerts: [] },
              { eval_time: '14m', alertname: 'TenderCacheReadErrors', exp_alerts: [{ exp_labels: { ...t, kind: 'tag', severity: 'warning' } }] },
              { eval_time: '10m', alertname: 'TenderCacheNearCap', exp_alerts: [] }, // `for: 30m`
            ],
          },
          {
            interval: '1m',
            input_series: [
              // Policy "platform": a refusal at minute 5, signatures unreachable (deny) from minute 40. Policy "edge" (warn
              // mode): a would-be refusal at minute 20, served fail-open from minute 40. Verified pulls all along.
              series('tender_signature_verdicts_total', { ...t, policy: 'platform', verdict: 'verified' }, '0+2x80'),
              series('tender_signature_verdicts_total', { ...t, policy: 'platform', verdict: 'refused' }, '0x5 1x80'),
              series('tender_signature_verdicts_total', { ...t, policy: 'platform', verdict: 'unavailable' }, '0x40 3x40'),
              series('tender_signature_verdicts_total', { ...t, policy: 'edge', verdict: 'warned' }, '0x20 1x80'),
              series('tender_signature_verdicts_total', { ...t, policy: 'edge', verdict: 'fail-open' }, '0x40 2x40'),
              series('tender_signature_verdicts_total', { ...t, policy: 'edge', verdict: 'refused' }, '0x80'),
            ],
            alert_rule_test: [
              { eval_time: '4m', alertname: 'TenderSignatureRefusals', exp_alerts: [] },
              { eval_time: '10m', alertname: 'TenderSignatureRefusals', exp_alerts: [{ exp_labels: { ...t, policy: 'platform', severity: 'warning' } }] },
              { eval_time: '30m', alertname: 'TenderSignatureRefusals', exp_alerts: [] },
              { eval_time: '30m', alertname: 'TenderSignaturesUnavailable', exp_alerts: [] },
              {
                eval_time: '45m',
                alertname: 'TenderSignaturesUnavailable',
                exp_alerts: [
                  { exp_labels: { ...t, policy: 'platform', verdict: 'unavailable', severity: 'warning' } },
                  { exp_labels: { ...t, policy: 'edge', verdict: 'fail-open', severity: 'warning' } },
                ],
              },
              { eval_time: '19m', alertname: 'TenderSignatureWarnings', exp_alerts: [] },
              { eval_time: '50m', alertname: 'TenderSignatureWarnings', exp_alerts: [{ exp_labels: { ...t, policy: 'edge', severity: 'info' } }] },
            ],
          },
        ],
      };
      const testFile = join(dir, 'tender.rules.test.yml');
      await writeFile(testFile, JSON.stringify(tests, null, 2));
      const result = await run('promtool', ['test', 'rules', testFile]).catch((err: { stdout: string; stderr: string }) => err);
      expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS');
    });
  });

  describe('a real Prometheus scraping tender', () => {
    let registry: RegistryHandle;
    let hub: { url: string; server: Server };
    let fault: FaultUpstream;
    let tender: TenderHandle;
    let prometheus: PrometheusHandle;
    let workDir: string;
    let image: PushedImage;
    let index: PushedIndex;
    let seriesBeforeFaults: string[] = [];

    beforeAll(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'tender-observability-'));
      registry = await startRegistry();
      image = await pushImage(registry, 'library/app', 'v1', { layerSizes: [300_000, 40_000], seed: 'observability-app' });
      index = await pushIndex(registry, 'library/multi', 'latest', {
        seed: 'observability-multi',
        platforms: [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64', variant: 'v8' },
        ],
        layerSizes: [120_000],
      });
      hub = await startDockerHubLikeProxy(registry.url);
      fault = await startFaultUpstream();
      // A signature policy over quay.io/signed/**: its verdicts are counted from start-up, and injectFaults pulls an unsigned image there.
      const keyFile = join(workDir, 'cosign.pub');
      await writeFile(keyFile, generateSigningKey().publicKeyPem);
      tender = await startTender({
        upstreams: { 'docker.io': hub.url, 'quay.io': fault.url },
        settings: {
          maxCacheSize: '1GiB',
          tagTtl: '1s',
          upstreams: {
            'docker.io': { url: hub.url, insecure: true, retries: 1 },
            'quay.io': { url: fault.url, insecure: true, retries: 1, immutableTags: ['v1'] },
          },
          signatures: { policies: [{ name: 'platform', repositories: ['quay.io/signed/**'], keys: [keyFile] }] },
        },
      });
      // startTender leaves out the process metrics; the image's tender exports them (the Memory and CPU panels).
      collectDefaultMetrics({ register: tender.metrics.registry });
      const rulesFile = await writeRulesFile(workDir);
      prometheus = await startPrometheus({ jobs: { tender: { targets: [new URL(tender.url).host] } }, ruleFiles: [rulesFile] });
      await prometheus.waitForScrapes(1);

      await pullThroughTender();
      seriesBeforeFaults = await prometheus.metricNames();
      await injectFaults();
      await injectFaults(); // a second time: counters are only exported from their first increment, which rate() cannot see
      await prometheus.waitForScrapes(3);
    }, 120_000);

    afterAll(async () => {
      await prometheus?.stop();
      await tender?.stop();
      await fault?.stop();
      if (hub) {
        hub.server.closeAllConnections();
        await new Promise((r) => hub.server.close(r));
      }
      await registry?.stop();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    const ns = (upstream: string) => `ns=${upstream}`;

    /**
     * Image pulls the way containerd sends them, plus the odd requests a mirror sees. Three rounds with scrapes in
     * between: the first misses, the others hit, and rate() sees increments after each series' first scrape.
     */
    async function pullThroughTender(): Promise<void> {
      const base = tender.url;
      const manifestAccept = { accept: containerdAccept };
      for (let round = 0; round < 3; round++) {
        // Resolve the tag (HEAD), fetch the manifest by digest, then config and layers.
        const head = await http(`${base}/v2/library/app/manifests/v1?${ns('docker.io')}`, { method: 'HEAD', headers: manifestAccept });
        expect(head.status).toBe(200);
        expect(head.headers['docker-content-digest']).toBe(image.digest);
        const manifest = await http(`${base}/v2/library/app/manifests/${image.digest}?${ns('docker.io')}`, { headers: manifestAccept });
        expect(manifest.status).toBe(200);
        for (const blob of [image.config, ...image.layers]) {
          const res = await http(`${base}/v2/library/app/blobs/${blob.digest}?${ns('docker.io')}`);
          expect(res.status).toBe(200);
          expect(sha256(res.body)).toBe(blob.digest);
        }
        // A multi-arch index by tag (GET), one platform's manifest, and its layer fetched by three clients at once.
        const indexRes = await http(`${base}/v2/library/multi/manifests/latest?${ns('docker.io')}`, { headers: manifestAccept });
        expect(indexRes.status).toBe(200);
        const amd64 = index.images[0]!;
        expect((await http(`${base}/v2/library/multi/manifests/${amd64.digest}?${ns('docker.io')}`, { headers: manifestAccept })).status).toBe(200);
        const shared = amd64.layers[0]!;
        const answers = await Promise.all([0, 1, 2].map(() => http(`${base}/v2/library/multi/blobs/${shared.digest}?${ns('docker.io')}`)));
        for (const res of answers) expect(sha256(res.body)).toBe(shared.digest);
        // A resumed download (Range), an unknown tag (404), and a registry that is not an upstream (403 DENIED).
        const layer = image.layers[0]!;
        const range = await http(`${base}/v2/library/app/blobs/${layer.digest}?${ns('docker.io')}`, { headers: { range: 'bytes=100-199' } });
        expect(range.status).toBe(206);
        expect(range.body).toEqual(layer.bytes.subarray(100, 200));
        expect((await http(`${base}/v2/library/app/manifests/no-such-tag?${ns('docker.io')}`, { headers: manifestAccept })).status).toBe(404);
        expect((await http(`${base}/v2/library/app/manifests/v1?${ns('evil.example')}`, { headers: manifestAccept })).status).toBe(403);
        // Past tagTtl (tender's clock moved, no sleep), so the next round revalidates the tags; and past a scrape.
        tender.advance(1_100);
        await prometheus.waitForScrapes(1);
      }
    }

    /** What only a misbehaving upstream or disk can cause, so that every alert and panel has its series. */
    async function injectFaults(): Promise<void> {
      const base = tender.url;
      const round = randomBytes(4).toString('hex');
      const accept = { accept: containerdAccept };
      // A tag whose upstream fails after it was cached: served stale. An immutable tag that moves upstream: refused.
      const manifestFor = (seed: string) => {
        const config = fault.addBlob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed })));
        return Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaTypes.ociManifest,
            config: { mediaType: MediaTypes.ociConfig, digest: config, size: JSON.stringify({ architecture: 'amd64', os: 'linux', seed }).length },
            layers: [],
          }),
        );
      };
      const staleRepo = `acme/stale-${round}`;
      const movingRepo = `acme/moving-${round}`;
      fault.addManifest(staleRepo, 'latest', manifestFor(`stale-${round}`), MediaTypes.ociManifest);
      fault.addManifest(movingRepo, 'v1', manifestFor(`moving-a-${round}`), MediaTypes.ociManifest);
      for (const repo of [staleRepo, movingRepo]) {
        const tag = repo === staleRepo ? 'latest' : 'v1';
        expect((await http(`${base}/v2/${repo}/manifests/${tag}?${ns('quay.io')}`, { headers: accept })).status).toBe(200);
      }
      fault.setFault(`${staleRepo}:latest`, 'unavailable');
      fault.addManifest(movingRepo, 'v1', manifestFor(`moving-b-${round}`), MediaTypes.ociManifest);
      tender.advance(1_100); // past tagTtl
      const stale = await http(`${base}/v2/${staleRepo}/manifests/latest?${ns('quay.io')}`, { headers: accept });
      expect(stale.status).toBe(200);
      expect((await http(`${base}/v2/${movingRepo}/manifests/v1?${ns('quay.io')}`, { headers: accept })).status).toBe(200);

      // An unsigned image in a repository the signature policy enforces: refused.
      const unsignedRepo = `signed/app-${round}`;
      fault.addManifest(unsignedRepo, 'v1', manifestFor(`unsigned-${round}`), MediaTypes.ociManifest);
      expect((await http(`${base}/v2/${unsignedRepo}/manifests/v1?${ns('quay.io')}`, { headers: accept })).status).toBe(403);

      // Wrong bytes for a digest (mismatch; the client is cut off), 503 for another (tender answers 5xx),
      // 429 once for a third (retried).
      const mismatch = fault.addBlob(randomBytes(200_000));
      fault.setFault(mismatch, 'wrong-bytes');
      await http(`${base}/v2/acme/app/blobs/${mismatch}?${ns('quay.io')}`).then(
        (res) => expect(sha256(res.body)).not.toBe(mismatch),
        () => undefined, // cut off before the last bytes
      );
      const unavailable = fault.addBlob(randomBytes(1_000));
      fault.setFault(unavailable, 'unavailable');
      expect((await http(`${base}/v2/acme/app/blobs/${unavailable}?${ns('quay.io')}`)).status).toBeGreaterThanOrEqual(500);
      const limited = fault.addBlob(randomBytes(1_000));
      fault.setFault(limited, 'rate-limit-once');
      expect((await http(`${base}/v2/acme/app/blobs/${limited}?${ns('quay.io')}`)).status).toBe(200);

      // A cached layer whose file was written into since it was stored: found on serve, quarantined, fetched again.
      const layer = image.layers[0]!;
      const layerFile = join(tender.cacheDir, 'blobs', 'sha256', layer.digest.slice(7, 9), layer.digest.slice(7));
      const handle = await open(layerFile, 'r+');
      await handle.write(Buffer.from([layer.bytes[1000]! ^ 0xff]), 0, 1, 1000);
      await handle.close();
      const layerUrl = `${base}/v2/library/app/blobs/${layer.digest}?${ns('docker.io')}`;
      await http(layerUrl).then(
        (res) => expect(sha256(res.body)).not.toBe(layer.digest),
        () => undefined, // cut off before the last bytes
      );
      expect(sha256((await http(layerUrl)).body)).toBe(layer.digest);

      // A cache directory that cannot take a new temp file: the pull succeeds, the write error is counted.
      const tmp = join(tender.cacheDir, 'tmp');
      await rename(tmp, `${tmp}.away`);
      await writeFile(tmp, 'not a directory');
      try {
        const bytes = randomBytes(50_000);
        const digest = fault.addBlob(bytes);
        const res = await http(`${base}/v2/acme/app/blobs/${digest}?${ns('quay.io')}`);
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(digest);
      } finally {
        await rm(tmp, { force: true });
        await rename(`${tmp}.away`, tmp).catch(() => mkdir(tmp, { recursive: true }));
      }
    }

    it('scrapes tender healthily', async () => {
      const targets = await prometheus.targets();
      expect(targets).toEqual([expect.objectContaining({ job: 'tender', health: 'up', lastError: '' })]);
    });

    it('every dashboard panel query returns data', async () => {
      const dashboard = await readDashboard();
      const names = new Set(dashboard.templating.list.map((v) => v.name));
      for (const v of ['datasource', 'job', 'instance', 'upstream']) expect(names, `template variable ${v}`).toContain(v);
      const rows: string[][] = [];
      const empty: string[] = [];
      const ids = new Set<number>();
      for (const panel of dashboard.panels) {
        expect(ids.has(panel.id), `panel id ${panel.id} is unique`).toBe(false);
        ids.add(panel.id);
        if (panel.type === 'row') continue;
        expect(panel.datasource?.uid, `${panel.title}: datasource`).toBe('${datasource}');
        expect(panel.targets?.length, `${panel.title}: targets`).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) {
          expect(target.datasource?.uid, `${panel.title} ${target.refId}: datasource`).toBe('${datasource}');
          const expr = substitute(target.expr);
          const result = await prometheus.query(expr).catch((err: Error) => {
            throw new Error(`${panel.title} (${target.refId}): ${err.message}\n${expr}`);
          });
          if (result.result.length === 0) empty.push(`${panel.title} (${target.refId}): ${expr}`);
          rows.push([panel.title, target.expr, describeSample(result.result)]);
        }
      }
      console.info(`dashboard panels against a live tender:\n${markdownTable(['Panel', 'Query', 'Value (first sample)'], rows)}`);
      expect(empty, 'panel queries with no data').toEqual([]);
    });

    it('every alert expression evaluates, and what it measures exists', async () => {
      const rules = await readRules();
      const rows: string[][] = [];
      const empty: string[] = [];
      for (const rule of rules) {
        const full = await prometheus.query(rule.expr);
        for (const probe of alertProbes(rule.expr)) {
          const result = await prometheus.query(probe).catch((err: Error) => {
            throw new Error(`${rule.alert}: ${err.message}\n${probe}`);
          });
          if (result.result.length === 0) empty.push(`${rule.alert}: ${probe}`);
          rows.push([rule.alert!, probe, describeSample(result.result), full.result.length > 0 ? 'yes' : 'no']);
        }
      }
      console.info(
        `alert expressions without their thresholds:\n${markdownTable(['Alert', 'Measured (threshold removed)', 'Value', 'Condition true now'], rows)}`,
      );
      expect(empty, 'alert measurements with no data').toEqual([]);
    });

    it('every metric named by a panel or an alert exists in Prometheus', async () => {
      const known = new Set(await prometheus.metricNames());
      const dashboard = await readDashboard();
      const exprs = [...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => substitute(t.expr))), ...(await readRules()).map((r) => r.expr)];
      const referenced = [...new Set(exprs.flatMap(referencedMetrics))].sort();
      expect(referenced).toContain('tender_cache_max_bytes');
      expect(referenced.length).toBeGreaterThan(20);
      expect(
        referenced.filter((name) => !known.has(name)),
        'referenced metrics Prometheus has never seen',
      ).toEqual([]);
      // Metrics that appear only after their first event (labelled counters start at their first increment).
      const late = referenced.filter((name) => !seriesBeforeFaults.includes(name));
      console.info(`metrics referenced by dashboard and alerts: ${referenced.length}; present only after injected faults: ${late.join(', ') || 'none'}`);
    });

    it('Prometheus evaluates every rule without error; the fault alerts fire and TenderDown does not', async () => {
      const deadline = Date.now() + 15_000;
      let rules = await prometheus.rules();
      const firing = () => new Set(rules.filter((r) => r.state === 'firing').map((r) => r.name));
      const faults = ['TenderDigestMismatches', 'TenderCacheWriteErrors', 'TenderCacheCorruption', 'TenderSignatureRefusals'];
      while (!faults.every((name) => firing().has(name)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        rules = await prometheus.rules();
      }
      console.info(
        `alert states:\n${markdownTable(
          ['Alert', 'State', 'Health'],
          rules.map((r) => [r.name, r.state ?? '', r.health]),
        )}`,
      );
      expect(rules.length).toBe((await readRules()).length);
      for (const rule of rules)
        expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({ rule: rule.name, health: 'ok', error: '' });
      const states = Object.fromEntries(rules.map((r) => [r.name, r.state]));
      expect(states.TenderDigestMismatches).toBe('firing');
      expect(states.TenderCacheWriteErrors).toBe('firing');
      expect(states.TenderCacheCorruption).toBe('firing');
      expect(states.TenderSignatureRefusals).toBe('firing');
      expect(states.TenderSignaturesUnavailable).toBe('inactive');
      expect(states.TenderDown).toBe('inactive');
      expect(states.TenderAbsent).toBe('inactive');
      expect(states.TenderCacheNearCap).toBe('inactive');
    });
  });

  describe('expression helpers', () => {
    it('find metric names and alert measurements', () => {
      expect(
        referencedMetrics('sum by (le, upstream) (rate(a_bucket{x=~"y|z"}[5m])) / on (job) group_left b offset 5m > 0 and absent(up{job="t"})').sort(),
      ).toEqual(['a_bucket', 'b', 'up']);
      expect(alertProbes('x / y > 0.9 and y > 0')).toEqual(['x / y', 'y']);
      expect(alertProbes('(a{s=">"} / b) < 0.5 and on (u) c > 100')).toEqual(['a{s=">"} / b', 'c']);
      expect(alertProbes('absent(up{job="tender"})')).toEqual(['up{job="tender"}']);
      expect(alertProbes('m > 400 * 1024 * 1024')).toEqual(['m']);
    });
  });
});

/**
 * Docker Hub in front of a real registry: distribution's answers, plus the ratelimit-limit/ratelimit-remaining headers
 * Docker Hub puts on manifest responses (remaining counts down with every manifest GET).
 */
async function startDockerHubLikeProxy(target: string): Promise<{ url: string; server: Server }> {
  const upstream = new URL(target);
  let remaining = 100;
  const server = createServer((req, res) => {
    const manifest = /\/manifests\//.test(req.url ?? '');
    if (manifest && req.method === 'GET') remaining = Math.max(0, remaining - 1);
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        const headers = { ...answer.headers };
        if (manifest) Object.assign(headers, { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': `${remaining};w=21600` });
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
