// One-shot commands beside a serving tender on the same cache directory and the same replicaId (`kubectl exec` into
// its Pod): a `tender seed` clears only its own temp files, never the serving tender's download in progress.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runTender } from '../helpers/cli.js';
import { addOciImage, startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const upstream = 'quay.test';
const replicaId = 'tender-0';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('one-shot commands beside a serving tender on the same cache directory', () => {
  let work: string;
  let cacheDir: string;
  let fault: FaultUpstream;
  let tender: TenderHandle;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tender-command-temp-'));
    cacheDir = join(work, 'cache');
    fault = await startFaultUpstream();
    tender = await startTender({ upstreams: { [upstream]: fault.url }, cacheDir, settings: { replicaId } });
  });

  afterAll(async () => {
    await tender?.stop();
    await fault?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('tender seed leaves the serving download alone: it completes, verifies and is committed', async () => {
    // The serving tender's download, held upstream after half of its bytes: its temp file is in tmp/ under the replica id.
    const layer = randomBytes(2 * 1024 * 1024);
    const digest = fault.addBlob(layer);
    fault.setFault(digest, 'held');
    const chunks: Buffer[] = [];
    const body = new Promise<{ status: number; bytes: Buffer }>((resolve, reject) => {
      const req = request(`${tender.url}/v2/acme/app/blobs/${digest}?ns=${upstream}`, (res) => {
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    const temp = await eventually(async () => {
      const names = (await readdir(join(cacheDir, 'tmp'))).filter((n) => n.startsWith(`${replicaId}.${digest.slice(7, 23)}`));
      return names.length > 0 && chunks.length > 0 ? names[0] : undefined;
    }, 'the serving download to start');

    // The operator seeds another image with the serving tender's configuration (same cache, same replicaId).
    const config = join(work, 'tender.yaml');
    await writeFile(
      config,
      [
        'includeDefaultUpstreams: false',
        `defaultUpstream: ${upstream}`,
        `replicaId: ${replicaId}`,
        `cacheDir: ${cacheDir}`,
        'upstreams:',
        `  ${upstream}:`,
        `    url: ${fault.url}`,
        '    insecure: true',
        '',
      ].join('\n'),
    );
    addOciImage(fault, 'acme/tool', '1.0', 'command-temp');
    const args = ['seed', '--config', config, `${upstream}/acme/tool:1.0`];
    const seeded = await runTender(args);
    expect(seeded.code, describeRun(args, seeded)).toBe(0);

    // The serving download's temp file is still there; released, the download completes, verifies and is committed.
    expect(await readdir(join(cacheDir, 'tmp'))).toContain(temp);
    fault.release(digest);
    const answer = await body;
    expect(answer.status).toBe(200);
    expect(sha256(answer.bytes)).toBe(digest);
    const committed = join(cacheDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
    const stored = await eventually(() => readFile(committed).catch(() => undefined), 'the blob to be committed');
    expect(sha256(stored)).toBe(digest);
    const writeErrors = await tender.metrics.registry.getSingleMetric('tender_cache_write_errors_total')!.get();
    expect(writeErrors.values.reduce((sum, v) => sum + v.value, 0)).toBe(0);
    // A second request is a hit from the cache: one upstream GET in all.
    const again = await fetch(`${tender.url}/v2/acme/app/blobs/${digest}?ns=${upstream}`);
    expect(sha256(Buffer.from(await again.arrayBuffer()))).toBe(digest);
    expect(fault.count('GET', `/blobs/${digest}`)).toBe(1);
  });
});
