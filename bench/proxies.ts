// The three pull-through caches under test, each its own OS process on its own port with its own empty cache.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnTracked, waitForHttp, type Cleanup, type Spawned } from './procs.js';

/** `tender` runs with `workers: auto`, `tender1` with `workers: 1` (issue 17: side by side in one run). */
export type ProxyId = 'tender' | 'tender1' | 'registry' | 'nginx';

export interface Proxy {
  id: ProxyId;
  label: string;
  url: string;
  /** The process whose memory we measure (for nginx: the master; workers are found from it). */
  pid: number;
  /** Measure children too (nginx workers and cache manager/loader). */
  includeChildren: boolean;
  describe: string;
  spawned: Spawned;
  /** Extra diagnostics (nginx error log) for the report. */
  diagnostics(): Promise<string>;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const q = JSON.stringify; // JSON strings are valid YAML scalars and survive odd characters in temp paths

/** First version-looking token a command prints about itself (nginx -v writes to stderr). */
function versionOf(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 5_000 }, (_err, stdout, stderr) => {
      resolve(/\d+\.\d+\.\d+\S*/.exec(`${stdout}${stderr}`)?.[0] ?? '?');
    });
  });
}

/** tender runs as deployed: compiled dist/ (bench/run.ts builds it first). BENCH_TENDER_SOURCE=1 runs src/ under tsx. */
export const TENDER_FROM_DIST = process.env.BENCH_TENDER_SOURCE !== '1';

/** tender's `workers` setting (issue 17): a number of processes, or `auto` for one per core. */
export type TenderWorkers = number | 'auto';

/** How the bench runs one tender; every field left out is tender's default. */
export interface TenderOptions {
  /** Written into tender's config as `workers:` when set; left out, tender runs its default (`auto`). */
  readonly workers?: TenderWorkers | undefined;
  /** A cache directory shared with another tender (scale-out); default: a new empty one. */
  readonly cacheDir?: string;
  /** `metadata.redis.url` and `replicaId`, for replicas sharing a cache directory. */
  readonly redis?: { readonly url: string; readonly replicaId: string };
  /** Default warn: the request lines are not logged (the registry proxy's access log is off too). */
  readonly logLevel?: 'warn' | 'info' | 'debug';
  readonly label?: string;
  /** Node options before tender's entry (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** tender's entry script, relative to the repository (default: dist/cli/tender.js, or src/ under tsx). */
  readonly entry?: string;
  /** An open file descriptor for tender's stdout (its log), instead of a pipe into the driver. */
  readonly stdoutFd?: number;
  /** Which column of the table this tender is (default `tender`). */
  readonly id?: 'tender' | 'tender1';
}

/** BENCH_TENDER_WORKERS=auto|<n>: the `workers` setting for the tender the scenarios run against (unset: the default). */
export function tenderWorkersFromEnv(value = process.env.BENCH_TENDER_WORKERS): TenderWorkers | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'auto') return 'auto';
  if (/^[1-9]\d{0,2}$/.test(value)) return Number(value);
  throw new Error(`BENCH_TENDER_WORKERS must be "auto" or a number of processes, not ${JSON.stringify(value)}`);
}

/**
 * tender as deployed (dist/), or from source with BENCH_TENDER_SOURCE=1 (`node --import tsx`); the node process
 * is spawned directly, so the measured pid is tender's node itself (no npx/tsx wrapper).
 */
export async function startTenderProxy(cleanup: Cleanup, upstreamUrl: string, options: TenderOptions = {}): Promise<Proxy> {
  const dir = await cleanup.tempDir('tender');
  const port = await freePort();
  const configPath = join(dir, 'tender.yaml');
  const settings: Record<string, unknown> = {
    includeDefaultUpstreams: false,
    defaultUpstream: 'bench.test',
    logLevel: options.logLevel ?? 'warn',
    upstreams: { 'bench.test': { url: upstreamUrl, insecure: true } },
  };
  if (options.workers !== undefined) settings.workers = options.workers;
  if (options.redis) {
    settings.metadata = { redis: { url: options.redis.url } };
    settings.replicaId = options.redis.replicaId;
  }
  await writeFile(configPath, `${JSON.stringify(settings, null, 2)}\n`); // JSON is YAML
  const cacheDir = options.cacheDir ?? join(dir, 'cache');
  const entry = options.entry ? [options.entry] : TENDER_FROM_DIST ? ['dist/cli/tender.js'] : ['--import', 'tsx', 'src/cli/tender.ts'];
  const label = options.label ?? 'tender';
  const args = [...(options.nodeArgs ?? []), ...entry, '--config', configPath, '--listen', `127.0.0.1:${port}`, '--cache-dir', cacheDir];
  const spawned = spawnTracked(cleanup, process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_ENV: 'production' },
    ...(options.stdoutFd === undefined ? {} : { stdio: ['ignore', options.stdoutFd, 'pipe'] }),
  });
  const url = `http://127.0.0.1:${port}`;
  // logLevel warn hides the "serving" line, so readiness is polled instead of read from stdout.
  await waitForHttp(`${url}/v2/`, spawned, label);
  const workers = options.workers === undefined ? 'workers not set' : `workers: ${options.workers}`;
  return {
    id: options.id ?? 'tender',
    label,
    url,
    pid: spawned.child.pid ?? 0,
    // Several workers are children of the process we started: their memory counts too.
    includeChildren: options.workers !== undefined && options.workers !== 1,
    describe: `node ${process.version} ${entry.join(' ')}, defaults (tagTtl 5m, ${workers}), logLevel ${options.logLevel ?? 'warn'}`,
    spawned,
    diagnostics: async () => spawned.tail(),
  };
}

/** distribution 2.8 in proxy mode: filesystem storage, in-memory blob descriptor cache, access log off. */
export async function startRegistryProxy(cleanup: Cleanup, upstreamUrl: string): Promise<Proxy> {
  const dir = await cleanup.tempDir('regproxy');
  const port = await freePort();
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  formatter: text',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${q(join(dir, 'data'))}`,
      '  cache:',
      '    blobdescriptor: inmemory',
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${q(`127.0.0.1:${port}`)}`,
      `  secret: ${q(randomBytes(16).toString('hex'))}`,
      'proxy:',
      `  remoteurl: ${q(upstreamUrl)}`,
      '',
    ].join('\n'),
  );
  const spawned = spawnTracked(cleanup, 'docker-registry', ['serve', configPath]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/v2/`, spawned, 'registry proxy');
  return {
    id: 'registry',
    label: 'registry proxy',
    url,
    pid: spawned.child.pid ?? 0,
    includeChildren: false,
    describe: `docker-registry ${await versionOf('docker-registry', ['--version'])} serve, proxy.remoteurl, filesystem storage, blobdescriptor inmemory, log warn, access log off`,
    spawned,
    // The start-up warning about repository deletion is always there and says nothing about the run.
    diagnostics: async () =>
      spawned
        .tail()
        .split('\n')
        .filter((line) => !line.includes('RempositoryRemover'))
        .join('\n'),
  };
}

export const NGINX_WORKERS = 2;
export const NGINX_LOCK_TIMEOUT = '60s';

function nginxConf(o: { dir: string; port: number; upstreamHost: string; asRoot: boolean }): string {
  const p = (name: string): string => q(join(o.dir, name));
  return `# generated by bench/proxies.ts
${o.asRoot ? 'user root;' : ''}
error_log ${p('error.log')} warn;
worker_processes ${NGINX_WORKERS};
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy_temp')};
  fastcgi_temp_path ${p('fastcgi_temp')};
  uwsgi_temp_path ${p('uwsgi_temp')};
  scgi_temp_path ${p('scgi_temp')};
  proxy_cache_path ${p('cache')} levels=1:2 keys_zone=oci:16m max_size=4g inactive=7d use_temp_path=off;
  upstream registry {
    server ${o.upstreamHost};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${o.port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering on;
    proxy_cache oci;
    proxy_cache_key $uri;
    proxy_cache_methods GET HEAD;
    proxy_cache_lock on;
    proxy_cache_lock_timeout ${NGINX_LOCK_TIMEOUT};
    proxy_cache_lock_age ${NGINX_LOCK_TIMEOUT};
    # distribution sends Cache-Control max-age on blobs; the cache lifetime is ours to choose, per location.
    proxy_ignore_headers Cache-Control Expires Set-Cookie;
    add_header X-Cache-Status $upstream_cache_status;
    # Content addressed: a digest never changes.
    location ~ "^/v2/.+/(blobs|manifests)/sha256:[0-9a-f]{64}$" {
      proxy_cache_valid 200 206 30d;
      proxy_pass http://registry;
    }
    # Tags: cached for 5m, like tender's default tagTtl.
    location ~ ^/v2/.+/manifests/[^/]+$ {
      proxy_cache_valid 200 5m;
      proxy_pass http://registry;
    }
    location / {
      proxy_cache off;
      proxy_pass http://registry;
    }
  }
}
`;
}

/** nginx proxy_cache with lock; master in the foreground as our child, 2 workers. */
export async function startNginxProxy(cleanup: Cleanup, upstreamHost: string): Promise<Proxy> {
  const dir = await cleanup.tempDir('nginx');
  const port = await freePort();
  const confPath = join(dir, 'nginx.conf');
  const errorLog = join(dir, 'error.log');
  const asRoot = process.getuid?.() === 0;
  await writeFile(confPath, nginxConf({ dir, port, upstreamHost, asRoot }));
  const spawned = spawnTracked(cleanup, 'nginx', ['-p', dir, '-c', confPath, '-e', errorLog, '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/v2/`, spawned, 'nginx');
  return {
    id: 'nginx',
    label: `nginx (${NGINX_WORKERS} workers)`,
    url,
    pid: spawned.child.pid ?? 0,
    includeChildren: true,
    describe: `nginx ${await versionOf('nginx', ['-v'])} proxy_cache, lock on (timeout ${NGINX_LOCK_TIMEOUT}), key $uri, digests 30d, tags 5m, ${NGINX_WORKERS} workers`,
    spawned,
    diagnostics: async () => {
      const text = await readFile(errorLog, 'utf8').catch(() => '');
      return text.split('\n').slice(-20).join('\n');
    },
  };
}
