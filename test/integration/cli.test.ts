// `tender serve` as operators run it: embedded defaults, no upstream reachable, config errors listed at once, SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { http } from '../helpers/http-client.js';
import { waitForExit } from '../helpers/processes.js';

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
