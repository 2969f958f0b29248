// `tender serve` as operators run it: embedded defaults, no upstream reachable, config errors listed at once, SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runTender } from '../helpers/cli.js';
import { http } from '../helpers/http-client.js';
import { waitForExit } from '../helpers/processes.js';

const run = promisify(execFile);

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'tender.ts');

function tender(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The start-up line that says where tender listens. */
function servingLine(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === 'tender is serving') resolve(entry);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('tender serve', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'tender-cli-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await waitForExit(child, 5_000);
    }
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('starts with embedded defaults (no config, no other server), serves /v2/ and ops routes, and drains on SIGTERM', async () => {
    const cacheDir = await tempDir();
    const child = tender(['--listen', '127.0.0.1:0', '--cache-dir', cacheDir]);
    children.push(child);
    const started = await servingLine(child);
    expect(started.msg).toBe('tender is serving');
    expect(started.upstreams).toEqual(['docker.io', 'ghcr.io', 'quay.io', 'registry.k8s.io', 'gcr.io', 'public.ecr.aws', 'mcr.microsoft.com']);
    const url = `http://${String(started.listen)}`;
    const base = await http(`${url}/v2/`);
    expect(base.status).toBe(200);
    expect(base.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect((await http(`${url}/healthz`)).status).toBe(200);
    expect((await http(`${url}/readyz`)).status).toBe(200);
    const metrics = await http(`${url}/metrics`);
    expect(metrics.body.toString()).toContain('tender_http_requests_total');
    const exited = exitCode(child);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('starts and stays ready when its upstream is down, answering 503 UNAVAILABLE for uncached content', async () => {
    const dir = await tempDir();
    const file = join(dir, 'dead.yaml');
    // Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    await writeFile(
      file,
      [
        'includeDefaultUpstreams: false',
        'defaultUpstream: dead.test',
        'upstreams:',
        '  dead.test:',
        '    url: http://127.0.0.1:9',
        '    insecure: true',
        '    retries: 0',
      ].join('\n'),
    );
    const child = tender(['--config', file, '--listen', '127.0.0.1:0', '--cache-dir', join(dir, 'cache')]);
    children.push(child);
    const started = await servingLine(child);
    const url = `http://${String(started.listen)}`;
    expect((await http(`${url}/readyz`)).status).toBe(200);
    const res = await http(`${url}/v2/library/app/manifests/latest`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body.toString()).errors[0]).toMatchObject({ code: 'UNAVAILABLE' });
    expect(JSON.parse(res.body.toString()).errors[0].message).toContain('dead.test unreachable');
  });

  it('serves /metrics on a separate port when metricsListen is set', async () => {
    const cacheDir = await tempDir();
    const child = tender(['--listen', '127.0.0.1:0', '--cache-dir', cacheDir], { TENDER_METRICS_LISTEN: '127.0.0.1:0' });
    children.push(child);
    const started = await servingLine(child);
    const metricsUrl = `http://${String(started.metricsListen)}`;
    const scrape = await http(`${metricsUrl}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.body.toString()).toContain('tender_time_to_first_byte_seconds');
    expect((await http(`${metricsUrl}/v2/`)).status).toBe(404);
  });

  it('reports every configuration problem at once, naming key and value, and exits 2', async () => {
    const dir = await tempDir();
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      [
        'tagTtl: soon',
        'listen: "host:99999"',
        'defaultUpstream: nowhere.test',
        'upstreams:',
        '  plain.test:',
        '    url: http://10.0.0.1:5000',
        '    password: hunter2secret',
      ].join('\n'),
    );
    const child = tender(['--config', file]);
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await exitCode(child)).toBe(2);
    expect(stderr).toContain('tagTtl');
    expect(stderr).toContain('"soon"');
    expect(stderr).toContain('listen');
    expect(stderr).toContain('defaultUpstream');
    expect(stderr).toContain('upstreams.plain.test.url: plain http needs "insecure: true"');
    expect(stderr).toContain('upstreams.plain.test.username');
    expect(stderr).not.toContain('hunter2secret');
  });
});

describe('tender serve with a cache directory it cannot use', () => {
  /** A read-only tmpfs (root only, as on CI); undefined where mounting is not allowed. */
  let readOnly: string | undefined;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tender-cli-ro-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir]);
      readOnly = dir;
    } catch {
      console.warn('cacheDir on a read-only mount: not tested here (mount needs root)');
    }
  });

  afterAll(async () => {
    if (!readOnly) return;
    await run('umount', [readOnly]);
    await rm(readOnly, { recursive: true, force: true });
  });

  it('refuses a cache directory under /proc at once, naming it, instead of spinning', async () => {
    const result = await runTender(['serve', '--listen', '127.0.0.1:0', '--cache-dir', '/proc/x'], { timeoutMs: 60_000 });
    expect(result.code, describeRun(['serve', '--cache-dir', '/proc/x'], result)).toBe(2);
    expect(result.stderr).toBe(
      'invalid configuration:\n  - --cache-dir (cacheDir): "/proc/x" is under /proc, a kernel file system: expected a directory on a disk\n',
    );
  });

  it('lists a cache directory that is a file together with the other problems', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tender-cli-'));
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    const config = join(dir, 'bad.yaml');
    await writeFile(config, `tagTtl: soon\ncacheDir: ${file}\n`);
    const result = await runTender(['serve', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('tagTtl: expected a duration');
    expect(result.stderr).toContain(`cacheDir: "${file}" is not a directory`);
    const under = await runTender(['seed', '--cache-dir', join(file, 'cache'), 'docker.io/library/busybox:1']);
    expect(under.code).toBe(2);
    expect(under.stderr).toMatch(/--cache-dir \(cacheDir\): ".*not-a-dir\/cache" cannot be examined: ENOTDIR/);
  });

  it('says "read-only file system" for a cache directory on a read-only mount, not ENOENT', async (context) => {
    if (!readOnly) return context.skip();
    const existing = await runTender(['serve', '--listen', '127.0.0.1:0', '--cache-dir', readOnly]);
    expect(existing.code).toBe(2);
    expect(existing.stderr).toContain(`--cache-dir (cacheDir): "${readOnly}" is not writable: EROFS (read-only file system)`);
    const missing = await runTender(['serve', '--listen', '127.0.0.1:0', '--cache-dir', join(readOnly, 'cache')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`cannot be created in ${readOnly}: EROFS (read-only file system)`);
  });
});
