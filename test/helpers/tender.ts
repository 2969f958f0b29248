// Starts a real tender (in-process, real HTTP on a loopback port) against given upstreams, with its log captured.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { start, type Running } from '../../src/main.js';
import { Metrics } from '../../src/metrics.js';

export interface TenderHandle extends Running {
  /** Removed by stop() when the helper made it; a cacheDir passed in belongs to the caller. */
  readonly cacheDir: string;
  readonly config: Config;
  readonly metrics: Metrics;
  /** Parsed JSON log lines so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Moves tender's clock (tag freshness) forward: a tag expires without the test sleeping. */
  advance(ms: number): void;
}

export interface TenderOptions {
  /** Upstream name → URL (http URLs are marked insecure). */
  readonly upstreams: Record<string, string>;
  readonly cacheDir?: string;
  readonly defaultUpstream?: string;
  /** Extra top-level settings, as in the YAML file. */
  readonly settings?: Record<string, unknown>;
}

export async function startTender(options: TenderOptions): Promise<TenderHandle> {
  const ownsCacheDir = options.cacheDir === undefined;
  const cacheDir = options.cacheDir ?? (await mkdtemp(join(tmpdir(), 'tender-cache-')));
  const removeCacheDir = async (): Promise<void> => {
    if (ownsCacheDir) await rm(cacheDir, { recursive: true, force: true });
  };
  const upstreams = Object.fromEntries(Object.entries(options.upstreams).map(([name, url]) => [name, { url, insecure: url.startsWith('http:'), retries: 1 }]));
  const settings = {
    listen: '127.0.0.1:0',
    cacheDir,
    includeDefaultUpstreams: false,
    defaultUpstream: options.defaultUpstream ?? Object.keys(options.upstreams)[0],
    staleTimeout: '1s',
    shutdownGrace: '2s',
    upstreams,
    ...options.settings,
  };
  let config: Config;
  try {
    config = parseConfig(settings);
  } catch (err) {
    await removeCacheDir();
    throw err;
  }
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  // Real time plus whatever the test skipped: everything else about time stays as in production.
  let skipped = 0;
  let running: Running;
  try {
    running = await start(config, { log: createLogger('info', sink), metrics, clock: () => Date.now() + skipped });
  } catch (err) {
    await removeCacheDir();
    throw err;
  }
  return {
    port: running.port,
    url: running.url,
    stop: async () => {
      await running.stop();
      await removeCacheDir();
    },
    cacheDir,
    config,
    metrics,
    logs,
    advance: (ms) => {
      skipped += ms;
    },
  };
}
