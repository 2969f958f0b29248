// Runs a real distribution (docker-registry) process as an upstream and counts what it actually served.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { stopProcess } from './processes.js';

export type RequestKind = 'base' | 'manifests' | 'blobs' | 'uploads' | 'tags' | 'referrers' | 'catalog' | 'other';

export interface RegistryRequest {
  method: string;
  /** Request URI as logged, including any query string. */
  path: string;
  status: number;
  kind: RequestKind;
  repository?: string;
  userAgent: string;
}

export interface RequestFilter {
  method?: string;
  kind?: RequestKind;
  repository?: string;
  status?: number;
}

export interface RegistryOptions {
  htpasswd?: { username: string; password: string };
  port?: number;
  /** Reuse an existing storage root to restart a registry with the same content. */
  rootDir?: string;
}

export interface RegistryHandle {
  url: string;
  host: string;
  port: number;
  rootDir: string;
  /** The htpasswd credentials, so the handle can be passed straight to the image helpers. */
  auth?: { username: string; password: string };
  /** Requests parsed from the access log since start or the last resetLog(). */
  requests(): RegistryRequest[];
  /** Call `await settle()` first: the registry writes its log line just after responding. */
  count(filter?: RequestFilter): number;
  /** Call `await settle()` first, or a late line from an earlier request may land after the reset. */
  resetLog(): void;
  /** Resolves once no log line has arrived for ~100 ms (gives up after 2 s). */
  settle(): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s. Removes a harness-created rootDir unless keepRootDir. */
  stop(opts?: { keepRootDir?: boolean }): Promise<void>;
}

// Readiness probes carry this UA so they never show up in request counts.
const READINESS_UA = 'tender-test-harness/readiness';
const READY_DEADLINE_MS = 10_000;
const SETTLE_QUIET_MS = 100;
const SETTLE_MAX_MS = 2_000;
const KILL_AFTER_MS = 5_000;

// Apache combined format from gorilla/handlers, written to stdout for every request (HEAD, 404s and
// router-level 404s included), unlike the JSON "response completed" lines which skip unrouted paths.
// The referer/user-agent tail is optional and quote-escape aware so an odd UA never drops a request.
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) \S+(?: "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)")?/;

export function classifyPath(uri: string): { kind: RequestKind; repository?: string } {
  const path = uri.split('?')[0] ?? uri;
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  const upload = /^\/v2\/(.+)\/blobs\/uploads(?:\/.*)?$/.exec(path);
  if (upload?.[1]) return { kind: 'uploads', repository: upload[1] };
  const tags = /^\/v2\/(.+)\/tags\/list$/.exec(path);
  if (tags?.[1]) return { kind: 'tags', repository: tags[1] };
  const ref = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/[^/]+$/.exec(path);
  if (ref?.[1]) return { kind: ref[2] as RequestKind, repository: ref[1] };
  return { kind: 'other' };
}

export function parseAccessLogLine(line: string): RegistryRequest | undefined {
  const m = ACCESS_LINE.exec(line);
  if (!m) return undefined;
  const [, method = '', path = '', status = '0', userAgent = ''] = m;
  return { method, path, status: Number(status), userAgent, ...classifyPath(path) };
}

async function bcryptHtpasswd(username: string, password: string): Promise<string> {
  // Node core has no bcrypt and distribution's htpasswd auth only accepts bcrypt, hence the binary.
  const { stdout } = await promisify(execFile)('htpasswd', ['-Bbn', username, password]);
  return stdout.trim() + '\n';
}

function configYaml(o: { rootDir: string; port: number; secret: string; htpasswdPath: string | undefined }): string {
  // JSON-quoted scalars are valid YAML and survive odd characters in temp paths.
  const q = JSON.stringify;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(o.rootDir)}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${q(`127.0.0.1:${o.port}`)}`,
    `  secret: ${q(o.secret)}`,
  ];
  if (o.htpasswdPath) {
    lines.push('auth:', '  htpasswd:', '    realm: tender-test', `    path: ${q(o.htpasswdPath)}`);
  }
  return lines.join('\n') + '\n';
}

async function waitUntilReady(url: string, child: ChildProcess, stderrTail: () => string): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `docker-registry exited early (code ${code}, signal ${signal})`;
  });
  child.once('error', (err) => {
    exited = `docker-registry failed to start: ${err.message}`;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${exited}\n${stderrTail()}`);
    try {
      const res = await fetch(`${url}/v2/`, {
        headers: { 'user-agent': READINESS_UA },
        signal: AbortSignal.timeout(1_000),
      });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry not ready within ${READY_DEADLINE_MS} ms\n${stderrTail()}`);
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryHandle> {
  const configDir = await mkdtemp(join(tmpdir(), 'tender-registry-config-'));
  const ownsRootDir = opts.rootDir === undefined;
  const rootDir = opts.rootDir ?? (await mkdtemp(join(tmpdir(), 'tender-registry-data-')));
  const port = opts.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;

  let htpasswdPath: string | undefined;
  if (opts.htpasswd) {
    htpasswdPath = join(configDir, 'htpasswd');
    await writeFile(htpasswdPath, await bcryptHtpasswd(opts.htpasswd.username, opts.htpasswd.password));
  }
  const configPath = join(configDir, 'config.yml');
  const secret = randomBytes(16).toString('hex');
  await writeFile(configPath, configYaml({ rootDir, port, secret, htpasswdPath }));

  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log: RegistryRequest[] = [];
  const stderrLines: string[] = [];
  let lastLineAt = Date.now();

  createInterface({ input: child.stdout! }).on('line', (line) => {
    lastLineAt = Date.now();
    const req = parseAccessLogLine(line);
    if (req && req.userAgent !== READINESS_UA) log.push(req);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    lastLineAt = Date.now();
    stderrLines.push(line);
    if (stderrLines.length > 50) stderrLines.shift();
  });

  const cleanup = async (keepRootDir: boolean): Promise<void> => {
    await stopProcess(child, KILL_AFTER_MS);
    await rm(configDir, { recursive: true, force: true });
    if (ownsRootDir && !keepRootDir) await rm(rootDir, { recursive: true, force: true });
  };

  try {
    await waitUntilReady(url, child, () => stderrLines.join('\n'));
  } catch (err) {
    await cleanup(false);
    throw err;
  }

  const matches = (r: RegistryRequest, f: RequestFilter): boolean =>
    (f.method === undefined || r.method === f.method.toUpperCase()) &&
    (f.kind === undefined || r.kind === f.kind) &&
    (f.repository === undefined || r.repository === f.repository) &&
    (f.status === undefined || r.status === f.status);

  return {
    url,
    host,
    port,
    rootDir,
    ...(opts.htpasswd ? { auth: opts.htpasswd } : {}),
    requests: () => [...log],
    count: (filter = {}) => log.filter((r) => matches(r, filter)).length,
    resetLog: () => {
      log = [];
    },
    settle: async () => {
      const start = Date.now();
      while (Date.now() - start < SETTLE_MAX_MS) {
        const quietFor = Date.now() - Math.max(lastLineAt, start);
        if (quietFor >= SETTLE_QUIET_MS) return;
        await new Promise((r) => setTimeout(r, SETTLE_QUIET_MS - quietFor));
      }
    },
    stop: (stopOpts = {}) => cleanup(stopOpts.keepRootDir ?? false),
  };
}
