// The pull audit file with `workers: 2` (a real `tender serve` process, Debian's docker-registry upstream): many
// pulls over fresh connections (so the primary hands them to both workers), a rotation size small enough to rotate
// dozens of times, a worker killed and replaced halfway: every pull's event is in the files exactly once, and the
// files are one set per worker slot (pulls.w1.jsonl*, pulls.w2.jsonl*), the replacement writing on in its slot's.
import { request } from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept } from '../helpers/http-client.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTenderProcess, type TenderProcess } from '../helpers/tender-process.js';

/** One manifest GET on a connection of its own; resolves with the status. */
function pullFresh(url: string, userAgent: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { accept: containerdAccept, 'user-agent': userAgent } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describeWithBinaries(['docker-registry'], 'audit file with workers: 2', () => {
  let registry: RegistryHandle;
  let tender: TenderProcess;
  let dir: string;
  let image: PushedImage;
  const auditDir = (): string => join(dir, 'audit');

  beforeAll(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'tender-audit-workers-'));
    image = await pushImage(registry, 'team/app', 'v1', { layerSizes: [100], seed: 'audit-workers' });
    tender = await startTenderProcess(dir, {
      workers: 2,
      cacheDir: join(dir, 'cache'),
      includeDefaultUpstreams: false,
      defaultUpstream: 'registry.test',
      shutdownGrace: '5s',
      upstreams: { 'registry.test': { url: registry.url, insecure: true, retries: 1 } },
      // About 10 events per file: each worker rotates dozens of times; enough copies kept to count every line.
      audit: { file: { path: join(auditDir(), 'pulls.jsonl'), maxSize: '6KiB', maxFiles: 500 } },
    });
  }, 120_000);

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Every audit line in every file, by file. */
  async function auditLines(): Promise<Map<string, Array<Record<string, unknown>>>> {
    const out = new Map<string, Array<Record<string, unknown>>>();
    for (const name of await readdir(auditDir())) {
      const text = await readFile(join(auditDir(), name), 'utf8');
      out.set(
        name,
        text
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
    }
    return out;
  }

  async function pullMany(from: number, to: number): Promise<void> {
    const url = `${tender.url}/v2/registry.test/team/app/manifests/v1`;
    for (let i = from; i < to; i += 10) {
      const batch = Array.from({ length: Math.min(10, to - i) }, (_, j) => pullFresh(url, `audit-test/${i + j}`));
      expect(await Promise.all(batch)).toEqual(batch.map(() => 200));
    }
  }

  async function waitForEvents(count: number): Promise<Map<string, Array<Record<string, unknown>>>> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const files = await auditLines().catch(() => new Map<string, Array<Record<string, unknown>>>());
      const total = [...files.values()].reduce((sum, lines) => sum + lines.length, 0);
      if (total >= count || Date.now() > deadline) return files;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('every pull is in the files exactly once, across rotations and a worker replaced, one file set per worker slot', async () => {
    await pullMany(0, 300);
    await waitForEvents(300);
    // Kill one worker outright: its replacement takes its slot, and its file.
    const [victim] = [...tender.workers().entries()].sort((a, b) => a[0] - b[0]);
    process.kill(victim![1], 'SIGKILL');
    await tender.waitForLog('the replacement worker', (l) => l.filter((line) => line.msg === 'tender is serving').length >= 3);
    await pullMany(300, 600);
    const files = await waitForEvents(600);

    const names = [...files.keys()].sort();
    expect(
      names.every((n) => /^pulls\.w[12]\.jsonl(\.\d+)?$/.test(n)),
      names.join(' '),
    ).toBe(true);
    for (const slot of [1, 2]) expect(names.filter((n) => n.startsWith(`pulls.w${slot}.`)).length, `rotations of slot ${slot}`).toBeGreaterThan(3);
    // No file past the rotation size.
    for (const name of names) expect((await stat(join(auditDir(), name))).size, name).toBeLessThanOrEqual(6 * 1024);

    const all = [...files.values()].flat();
    const agents = all.map((l) => String(l.userAgent));
    expect(all.every((l) => l.digest === image.digest && l.action === 'pull')).toBe(true);
    expect(agents.length).toBe(600);
    expect(new Set(agents).size).toBe(600);
    expect(new Set(agents)).toEqual(new Set(Array.from({ length: 600 }, (_, i) => `audit-test/${i}`)));
    expect(new Set(all.map((l) => l.id)).size).toBe(600);
    // Both slots served pulls after the replacement too.
    const late = (slot: number) => [...files].filter(([n]) => n.startsWith(`pulls.w${slot}.`)).flatMap(([, lines]) => lines);
    for (const slot of [1, 2])
      expect(
        late(slot).some((l) => Number(String(l.userAgent).split('/')[1]) >= 300),
        `slot ${slot} after the kill`,
      ).toBe(true);
  }, 180_000);
});
