// `npm run bench:herd`: the cold herd alone (scenarios a and a2), several rounds, with each process's memory.
//
// The full bench runs the herd once per peer among minutes of other load; this repeats it on fresh tenders
// (a new empty cache each round, so every round is cold) and reports, per round: the slowest client's response
// headers and first body byte, upstream GETs, correct clients, and per process (primary, each worker) the idle
// VmRSS right after start and the VmHWM after the herd. Rows: `workers: auto` (or BENCH_TENDER_WORKERS),
// `workers: 1`, and two replicas with Redis (a2; BENCH_SKIP_REPLICAS=1 skips it). BENCH_ROUNDS (default 3).
// BENCH_TRACE=1 also prints each herd's flight timeline (herd-trace.ts).
// BENCH_HERD_WARM=1 then runs the warm rows b, c and d on the same tender and adds one line per row with each
// process's VmHWM after it (where a worker's peak RSS comes from over the whole bench, issue 17).
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSnapshot, foreignCores } from './cpu.js';
import { collectTimeline, formatTimeline, TRACE } from './herd-trace.js';
import { Cleanup } from './procs.js';
import { startTenderProxy, tenderWorkersFromEnv, TENDER_FROM_DIST, type TenderOptions } from './proxies.js';
import { replicaColdHerd } from './replicas.js';
import { childPids } from './rss.js';
import { blobUrl, coldHerd, HERD_CLIENTS, warmBigBlob, warmManifest, warmSmallBlob } from './scenarios.js';
import { fillUpstream, startUpstream } from './upstream.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SKIP_REPLICAS = process.env.BENCH_SKIP_REPLICAS === '1';
const WARM_ROWS = process.env.BENCH_HERD_WARM === '1';
const MiB = 1024 * 1024;
const cleanup = new Cleanup();
process.on('SIGINT', () => void cleanup.run().finally(() => process.exit(130)));
process.on('exit', () => cleanup.killAllNow());
const say = (msg: string): void => void process.stderr.write(`[herd ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function field(pid: number, name: 'VmRSS' | 'VmHWM'): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
}

/** `primary 41 / w 88, 90` in MiB: the process started, then its children. */
async function perProcess(pid: number, name: 'VmRSS' | 'VmHWM'): Promise<{ text: string; total: number }> {
  const own = await field(pid, name);
  const children = await Promise.all((await childPids(pid)).map((c) => field(c, name)));
  const total = own + children.reduce((a, b) => a + b, 0);
  const mib = (b: number): string => (b / MiB).toFixed(0);
  const text = children.length ? `${mib(own)} + ${children.map(mib).join(' + ')} = ${mib(total)}` : mib(own);
  return { text, total };
}

async function main(): Promise<void> {
  if (TENDER_FROM_DIST) execFileSync('npm', ['run', '--silent', 'build'], { cwd: join(dirname(fileURLToPath(import.meta.url)), '..'), stdio: 'inherit' });
  const upstream = await startUpstream(cleanup);
  const content = await fillUpstream(upstream);
  const workers = tenderWorkersFromEnv() ?? 'auto';
  const kinds: TenderOptions[] = [
    { workers, label: `workers: ${workers}`, ...(TRACE ? { logLevel: 'debug' as const } : {}) },
    { workers: 1, label: 'workers: 1', ...(TRACE ? { logLevel: 'debug' as const } : {}) },
  ];
  const lines: string[] = [
    `| row | round | slowest headers, ms | slowest first byte, ms | upstream GETs | correct | idle VmRSS, MiB (primary + workers) | VmHWM after the herd, MiB | other processes, cores |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |',
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of kinds) {
      const scope = cleanup.scope();
      const tender = await startTenderProxy(scope, upstream.url, kind);
      // Let the workers finish starting (the primary answers nothing itself) before memory is read.
      await new Promise((r) => setTimeout(r, 1_000));
      const idle = await perProcess(tender.pid, 'VmRSS');
      const timeline = TRACE ? collectTimeline(tender.spawned.child, 'tender') : undefined;
      const before = await cpuSnapshot();
      const herd = await coldHerd([blobUrl(tender.url, content.big.digest)], content.big, upstream);
      const foreign = foreignCores(before, await cpuSnapshot());
      const hwm = await perProcess(tender.pid, 'VmHWM');
      lines.push(
        `| ${kind.label} | ${round} | ${herd.slowestHeadersMs.toFixed(0)} | ${herd.slowestFirstByteMs.toFixed(0)} | ${herd.upstreamGets} | ${herd.ok}/${HERD_CLIENTS} | ${idle.text} | ${hwm.text} | ${foreign.toFixed(2)} |`,
      );
      say(lines.at(-1)!);
      if (timeline) say(`  timeline, ms from the herd's start:\n${formatTimeline(herd, timeline.lines, () => kind.label ?? 'tender')}`);
      if (herd.failures.length) say(`  failures: ${herd.failures.join('; ')}\n${tender.spawned.tail()}`);
      if (WARM_ROWS) {
        const rows: Array<[string, () => Promise<string>]> = [
          ['b. warm 64 KiB', async () => `${(await warmSmallBlob(tender.url, content, upstream, tender.pid)).reqPerSec.toFixed(0)} req/s`],
          ['c. by digest', async () => `${(await warmManifest(tender.url, 'digest', content, upstream, tender.pid)).reqPerSec.toFixed(0)} req/s`],
          ['c. by tag', async () => `${(await warmManifest(tender.url, 'tag', content, upstream, tender.pid)).reqPerSec.toFixed(0)} req/s`],
          ['d. warm 256 MiB', async () => `${(await warmBigBlob(tender.url, content, upstream)).mbPerSec.toFixed(0)} MB/s`],
        ];
        for (const [row, run] of rows) {
          const figure = await run();
          lines.push(`| ${kind.label}, then ${row} (${figure}) | ${round} | | | | | | ${(await perProcess(tender.pid, 'VmHWM')).text} | |`);
          say(lines.at(-1)!);
        }
      }
      await scope.run();
    }
    if (SKIP_REPLICAS) continue;
    const before = await cpuSnapshot();
    const r = await replicaColdHerd(cleanup, upstream, content.big, { workers }, say);
    const foreign = foreignCores(before, await cpuSnapshot());
    for (const f of r.replicas) {
      const hwm = f.hwmBytes === undefined ? '?' : (f.hwmBytes / MiB).toFixed(0);
      lines.push(
        `| a2 replica ${f.replicaId}${f.holder ? ' (holder)' : ' (waiting)'} | ${round} | ${f.slowestHeadersMs.toFixed(0)} | ${f.slowestFirstByteMs.toFixed(0)} | ${r.herd.upstreamGets} | ${f.ok}/${f.clients} | | ${hwm} | ${foreign.toFixed(2)} |`,
      );
      say(lines.at(-1)!);
    }
    if (r.timeline) say(`  a2 timeline, ms from the herd's start:\n${r.timeline}`);
    if (r.herd.failures.length) say(`  failures: ${r.herd.failures.join('; ')}\n${r.diagnostics.join('\n')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup.run());
