// `npm run bench:compare`: paired throughput and CPU per request of several tender builds (or log levels, or bare
// servers) on the warm hit paths, for changes too small to see across two `npm run bench` runs on a shared
// machine. Every variant runs at once (own process, own cache, one upstream); the rounds alternate their order
// (ABBA…) and the median per variant is reported with the ratio to the first, so drift in the machine's load falls
// on all variants alike. CPU per request (tender's user + system time from /proc) hardly moves with that load.
//
//   npm run bench:compare -- --variant main:dist/cli/tender.js --variant lean:/tmp/lean/dist/cli/tender.js
//   npm run bench:compare -- --variant warn:dist/cli/tender.js:warn --variant info:dist/cli/tender.js:info
//   npm run bench:compare -- --variant tender:dist/cli/tender.js --variant node:@node --variant skeleton:@hono-skeleton
//
// A variant is label:entry[:logLevel[:workers]] (workers: a number or auto; default 1, one process). The entry is a tender.js (a copy of dist/ elsewhere needs node_modules
// resolvable from it, e.g. a symlink), or @node, @hono, @hono-skeleton: a bare server (bench/calibration-server.ts)
// answering with the response the first tender variant gave on that path. The first variant must be a tender.
// Options: --paths blob,manifest,tag  --rounds 6  --seconds 5  --no-build.
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { captureResponse, startBareServer, writeResponseFile, type BareKind } from './calibration.js';
import { buildDist, cleanupOnExit, hitRequest, parseHitPaths, say, upstreamWithContent, warm } from './hit-paths.js';
import { startTenderProxy } from './proxies.js';
import { measureLoad } from './scenarios.js';

const { values } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    paths: { type: 'string', default: 'blob,manifest' },
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '5' },
    'no-build': { type: 'boolean', default: false },
  },
});

type Variant = { label: string; logLevel: 'warn' | 'info'; workers: number | 'auto' } & ({ entry: string } | { bare: BareKind });

const bareKinds: readonly BareKind[] = ['node', 'hono', 'hono-skeleton'];

function parseVariant(text: string): Variant {
  const [label, entry, logLevel = 'warn', workerText = '1'] = text.split(':');
  const workers = workerText === 'auto' ? 'auto' : Number(workerText);
  if (!label || !entry || (logLevel !== 'warn' && logLevel !== 'info') || (workers !== 'auto' && !(Number.isInteger(workers) && workers >= 1))) {
    throw new Error(`--variant label:entry[:warn|info[:workers]], not ${JSON.stringify(text)}`);
  }
  if (!entry.startsWith('@')) return { label, entry, logLevel, workers };
  const bare = entry.slice(1) as BareKind;
  if (!bareKinds.includes(bare)) throw new Error(`a bare variant is one of ${bareKinds.map((k) => `@${k}`).join(', ')}, not ${entry}`);
  return { label, bare, logLevel, workers };
}

const variants = values.variant.map(parseVariant);
if (variants.length < 2 || !('entry' in variants[0]!)) throw new Error('give at least two --variant label:entry[:logLevel], the first a tender');
const paths = parseHitPaths(values.paths);
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const cleanup = cleanupOnExit();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Server {
  base: string;
  pid: number;
}

async function main(): Promise<void> {
  if (!values['no-build']) buildDist();
  const { upstream, content } = await upstreamWithContent(cleanup);
  const tenders = new Map<number, Server>();
  for (const [i, v] of variants.entries()) {
    if (!('entry' in v)) continue;
    const dir = await cleanup.tempDir('compare');
    const logFd = openSync(join(dir, 'tender.log'), 'w');
    cleanup.add(() => closeSync(logFd));
    const t = await startTenderProxy(cleanup, upstream.url, { entry: v.entry, logLevel: v.logLevel, stdoutFd: logFd, label: v.label, workers: v.workers });
    tenders.set(i, { base: t.url, pid: t.pid });
  }
  const others = variants.slice(1);
  const lines = [
    `| hit path, figure (median) | ${variants.map((v) => v.label).join(' | ')} | ${others.map((v) => `${v.label}/${variants[0]!.label}`).join(' | ')} | rounds, in run order |`,
    `| --- | ${variants.map(() => '---:').join(' | ')} | ${others.map(() => '---:').join(' | ')} | --- |`,
  ];
  const row = (what: string, medians: number[], digits: number, order: string[]): string =>
    `| ${what} | ${medians.map((m) => m.toFixed(digits)).join(' | ')} | ${medians
      .slice(1)
      .map((m) => `${(m / medians[0]!).toFixed(2)}×`)
      .join(' | ')} | ${order.join(', ')} |`;
  for (const path of paths) {
    for (const t of tenders.values()) await warm(hitRequest(path, t.base, content));
    // Bare servers answer with what the first tender answered on this path: same status, headers and body.
    const scope = cleanup.scope();
    const servers = new Map(tenders);
    if (servers.size < variants.length) {
      const first = hitRequest(path, tenders.get(0)!.base, content);
      const file = await writeResponseFile(await scope.tempDir('compare-bare'), await captureResponse(first.url, first.headers));
      for (const [i, v] of variants.entries()) {
        if ('bare' in v) {
          const { base, spawned } = await startBareServer(scope, v.bare, file);
          servers.set(i, { base, pid: spawned.child.pid ?? 0 });
        }
      }
    }
    const results = variants.map(() => [] as number[]);
    const cpu = variants.map(() => [] as number[]);
    const order: string[] = [];
    const cpuOrder: string[] = [];
    for (let r = 0; r < rounds; r++) {
      const idx = variants.map((_, i) => i);
      if (r % 2 === 1) idx.reverse();
      for (const i of idx) {
        const server = servers.get(i)!;
        const req = hitRequest(path, server.base, content);
        const load = await measureLoad(req.url, req.connections, seconds, req.headers, server.pid);
        if (load.non2xx || load.errors) throw new Error(`${variants[i]!.label}, ${req.what}: ${load.non2xx} non-2xx, ${load.errors} errors`);
        results[i]!.push(load.reqPerSec);
        cpu[i]!.push(load.cpuUsPerRequest ?? Number.NaN);
        const cpuText = load.cpuUsPerRequest?.toFixed(1) ?? 'n/a';
        order.push(`${variants[i]!.label} ${load.reqPerSec.toFixed(0)}`);
        cpuOrder.push(`${variants[i]!.label} ${cpuText}`);
        say(`${req.what}, round ${r + 1}/${rounds}, ${variants[i]!.label}: ${load.reqPerSec.toFixed(0)} req/s, ${cpuText} µs CPU per request`);
      }
    }
    await scope.run();
    const what = hitRequest(path, '', content).what;
    lines.push(row(`${what}, req/s`, results.map(median), 0, order));
    lines.push(row(`${what}, server CPU per request, µs`, cpu.map(median), 1, cpuOrder));
  }
  process.stdout.write(
    `\n${lines.join('\n')}\n\n${rounds} rounds of ${seconds} s per variant and path, ab -k, order alternated per round; ` +
      `CPU per request is the server's user + system time (/proc) over the round divided by the requests answered.\n`,
  );
}

main().then(
  async () => {
    await cleanup.run();
    process.exit(0);
  },
  async (err: unknown) => {
    process.stderr.write(`bench:compare failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup.run();
    process.exit(1);
  },
);
