// Runs a real Prometheus server that scrapes given targets every second (and evaluates rule files), and queries its HTTP API.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './free-port.js';
import { stopProcess } from './processes.js';

export interface PrometheusOptions {
  /** Scrape jobs: job name → host:port targets (scheme http, path /metrics unless metricsPath is set). */
  readonly jobs: Record<string, { targets: string[]; metricsPath?: string }>;
  /** Rules files (`{groups: [...]}`) to load and evaluate. */
  readonly ruleFiles?: string[];
  /** scrape_interval and evaluation_interval; 1s unless given. */
  readonly interval?: string;
}

/** One sample of an instant vector, or a scalar/string result shaped the same way. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface QueryResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  result: Sample[];
}

export interface RuleState {
  name: string;
  type: 'alerting' | 'recording';
  query: string;
  health: string;
  lastError?: string;
  state?: 'inactive' | 'pending' | 'firing';
}

export interface PrometheusHandle {
  readonly url: string;
  /** Instant query; throws with Prometheus' own error message when the expression is rejected. */
  query(expr: string): Promise<QueryResult>;
  /** Every metric name Prometheus holds series for. */
  metricNames(): Promise<string[]>;
  /** Scrape targets with their health and last error. */
  targets(): Promise<Array<{ job: string; health: string; lastError: string; scrapeUrl: string }>>;
  /** Rules from every loaded group, with health and (for alerts) state. */
  rules(): Promise<RuleState[]>;
  /** Resolves once every target has been scraped successfully at least `scrapes` times after this call. */
  waitForScrapes(scrapes?: number): Promise<void>;
  stop(): Promise<void>;
}

const READY_DEADLINE_MS = 20_000;
const KILL_AFTER_MS = 5_000;

function configYaml(options: PrometheusOptions): string {
  // JSON is YAML: no quoting worries for paths and targets.
  const interval = options.interval ?? '1s';
  return JSON.stringify(
    {
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: Object.entries(options.jobs).map(([job, { targets, metricsPath }]) => ({
        job_name: job,
        metrics_path: metricsPath ?? '/metrics',
        static_configs: [{ targets }],
      })),
    },
    null,
    2,
  );
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'tender-prometheus-'));
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, configYaml(options));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Tests ask for series seconds old; the default 5 minute lookback is fine, retention is not needed.
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 50) stderr.shift();
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `prometheus exited (code ${code}, signal ${signal})`));
  child.once('error', (err) => (exited = `prometheus failed to start: ${err.message}`));

  const cleanup = async (): Promise<void> => {
    await stopProcess(child, KILL_AFTER_MS);
    await rm(dir, { recursive: true, force: true });
  };

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.errorType ?? res.status}: ${body.error ?? 'no error message'}`);
    return body.data;
  };

  const deadline = Date.now() + READY_DEADLINE_MS;
  for (;;) {
    if (exited) {
      await cleanup();
      throw new Error(`${exited}\n${stderr.join('\n')}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await cleanup();
      throw new Error(`prometheus not ready within ${READY_DEADLINE_MS} ms\n${stderr.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const targets = async () => {
    const data = await api<{ activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string }> }>(
      '/api/v1/targets?state=active',
    );
    return data.activeTargets.map((t) => ({ job: t.labels.job ?? '', health: t.health, lastError: t.lastError, scrapeUrl: t.scrapeUrl }));
  };

  return {
    url,
    query: (expr) => api<QueryResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    metricNames: () => api<string[]>('/api/v1/label/__name__/values'),
    targets,
    rules: async () => {
      const data = await api<{ groups: Array<{ rules: RuleState[] }> }>('/api/v1/rules');
      return data.groups.flatMap((g) => g.rules);
    },
    waitForScrapes: async (scrapes = 2) => {
      // Each scrape writes one `up` sample per target: count those since this call, for targets that are up now.
      const expected = Object.values(options.jobs).reduce((n, j) => n + j.targets.length, 0);
      const since = Date.now() / 1000;
      const limit = Date.now() + 30_000;
      for (;;) {
        const window = Math.max(1, Math.ceil(Date.now() / 1000 - since));
        const res = await api<QueryResult>(`/api/v1/query?query=${encodeURIComponent(`count_over_time(up[${window}s]) and up == 1`)}`);
        const counted = res.result.filter((s) => Number(s.value[1]) >= scrapes).length;
        if (counted >= expected) return;
        if (Date.now() > limit) {
          const health = (await targets()).map((t) => `${t.scrapeUrl}: ${t.health} ${t.lastError}`).join('\n');
          throw new Error(`prometheus did not scrape every target ${scrapes} times within 30 s\n${health}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    stop: cleanup,
  };
}
