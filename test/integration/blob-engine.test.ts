// The blob engine under a slow upstream: leaving clients, a crash mid-fill, a full disk (who joins a flight: test/unit/cache).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { http } from '../helpers/http-client.js';
import { sha256 } from '../helpers/images.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

describe('blob engine', () => {
  let upstream: FaultUpstream;
  let tender: TenderHandle;

  beforeAll(async () => {
    upstream = await startFaultUpstream();
    tender = await startTender({ upstreams: { 'slow.test': upstream.url } });
  });

  afterAll(async () => {
    await tender?.stop();
    await upstream?.stop();
  });

  const url = (digest: string, repository = 'acme/app') => `${tender.url}/v2/slow.test/${repository}/blobs/${digest}`;

  function slowBlob(size: number): { bytes: Buffer; digest: string } {
    const bytes = randomBytes(size);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'slow');
    return { bytes, digest };
  }

  it('keeps the flight going when the first client disconnects, and the others get every byte', async () => {
    const { digest } = slowBlob(2 * 1024 * 1024);
    const leaving = await request(url(digest));
    const others = Array.from({ length: 3 }, () => http(url(digest)));
    // Read a little, then hang up mid-transfer.
    for await (const _chunk of leaving.body) break;
    leaving.body.destroy();
    for (const res of await Promise.all(others)) expect(sha256(res.body)).toBe(digest);
    expect(upstream.count('GET', digest)).toBe(1);
    const hex = digest.slice(7);
    expect((await stat(join(tender.cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex))).size).toBe(2 * 1024 * 1024);
  });

  it('finishes and caches the blob even when every client has left', async () => {
    const { digest } = slowBlob(1024 * 1024);
    const only = await request(url(digest));
    only.body.destroy();
    const hex = digest.slice(7);
    await waitFor(() =>
      stat(join(tender.cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex)).then(
        () => true,
        () => false,
      ),
    );
    const again = await http(url(digest));
    expect(sha256(again.body)).toBe(digest);
    expect(upstream.count('GET', digest)).toBe(1);
  });
});

describe('a crash mid-fill', () => {
  it('leaves nothing that is served after a restart; the blob is fetched again, whole', async () => {
    const upstream = await startFaultUpstream();
    const bytes = randomBytes(2 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    upstream.setFault(digest, 'slow');
    const dir = await mkdtemp(join(tmpdir(), 'tender-crash-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'tender.json');
    await writeFile(
      config,
      JSON.stringify({ includeDefaultUpstreams: false, defaultUpstream: 'slow.test', upstreams: { 'slow.test': { url: upstream.url, insecure: true } } }),
    );
    const cacheDir = join(dir, 'cache');
    const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'tender.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', cli, '--config', config, '--listen', '127.0.0.1:0', '--cache-dir', cacheDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const listen = await new Promise<string>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg?: string; listen?: string };
        if (entry.msg === 'tender is serving') resolve(entry.listen!);
      });
    });
    const response = await request(`http://${listen}/v2/library/x/blobs/${digest}`);
    let received = 0;
    for await (const chunk of response.body) {
      received += (chunk as Buffer).length;
      if (received > 512 * 1024) break;
    }
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    response.body.destroy();
    expect((await readdir(join(cacheDir, 'tmp'))).length).toBe(1); // the half-written temp file

    upstream.setFault(digest, 'none');
    const restarted = await startTender({ upstreams: { 'slow.test': upstream.url }, cacheDir });
    try {
      expect(await readdir(join(cacheDir, 'tmp'))).toEqual([]);
      const res = await http(`${restarted.url}/v2/library/x/blobs/${digest}`);
      expect(sha256(res.body)).toBe(digest);
      expect(upstream.count('GET', digest)).toBe(2);
    } finally {
      await restarted.stop();
      await upstream.stop();
    }
  });
});

describe('a full cache disk', () => {
  let dir: string | undefined;
  let mounted: string | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tender-enospc-'));
    const { execFileSync } = await import('node:child_process');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
      mounted = dir;
    } catch {
      if (process.env.CI === 'true' || process.env.CI === '1') throw new Error('cannot mount a 1 MiB tmpfs: the ENOSPC test needs root');
      console.warn('skipping ENOSPC test: mounting a tmpfs needs root');
    }
  });

  afterAll(async () => {
    if (mounted) {
      const { execFileSync } = await import('node:child_process');
      execFileSync('umount', ['-l', mounted]);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves every upstream byte to its clients, caches nothing, and counts the write error', async (context) => {
    if (!mounted) return context.skip();
    const upstream = await startFaultUpstream();
    const cacheDir = join(mounted, 'cache');
    await mkdir(cacheDir, { recursive: true });
    const tender = await startTender({ upstreams: { 'full.test': upstream.url }, cacheDir });
    try {
      const bytes = randomBytes(3 * 1024 * 1024); // three times what the disk holds
      const digest = upstream.addBlob(bytes);
      upstream.setFault(digest, 'slow');
      const answers = await Promise.all([0, 1, 2].map(() => http(`${tender.url}/v2/acme/app/blobs/${digest}`)));
      for (const res of answers) {
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(digest);
      }
      const hex = digest.slice(7);
      await expect(stat(join(cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex))).rejects.toThrow();
      await waitFor(async () => (await readdir(join(cacheDir, 'tmp'))).length === 0);
      const errors = await tender.metrics.registry.getSingleMetricAsString('tender_cache_write_errors_total');
      expect(errors).toMatch(/kind="blob"\} [1-9]/);
      expect(tender.logs.some((l) => String(l.msg).startsWith('cache write failed'))).toBe(true);
    } finally {
      await tender.stop();
      await upstream.stop();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
