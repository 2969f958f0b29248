// Calibration rows for the warm small-response scenarios (issue 17): the response tender gave, served again by a
// bare node:http server and by hono on @hono/node-server with an empty handler, measured with the same load
// generator and connections right after tender's own run, so the two figures share the machine's state.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort, spawnTracked, stopChild, waitForHttp, type Cleanup, type Spawned } from './procs.js';
import { measureLoad, type LoadResult, type RawLoad } from './scenarios.js';
import { fixed } from './table.js';

export type CalibrationId = 'node' | 'hono';
export const CALIBRATION_ORDER: readonly CalibrationId[] = ['node', 'hono'];
export const CALIBRATION_LABELS: Record<CalibrationId, string> = { node: 'bare node:http', hono: 'hono, empty handler' };
/** Issue 17's aim for one tender process: within 1.5× of the bare node:http figure of the same run. */
export const BARE_TARGET_FACTOR = 1.5;

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

export interface FixedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The replayed response's size and status, and per calibration server its load figures (or what went wrong). */
export interface Calibration {
  bytes: number;
  status: number;
  runs: Record<CalibrationId, RawLoad & { problem?: string }>;
}

// Per connection or per message, not per resource: node:http writes its own.
const notReplayed = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);

/** One GET of a warm URL on tender: the status, headers and body the calibration servers answer with. */
export async function captureResponse(url: string, headers: Record<string, string>): Promise<FixedResponse> {
  const res = await request(url, { headers, signal: AbortSignal.timeout(30_000) });
  const body = Buffer.from(await res.body.arrayBuffer());
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || notReplayed.has(name)) continue;
    kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { status: res.statusCode, headers: kept, body };
}

/** The calibration servers, and tender's shape without its work (bench/compare.ts only). */
export type BareKind = CalibrationId | 'hono-skeleton';

/** Writes a captured response where calibration-server.ts reads it. */
export async function writeResponseFile(dir: string, response: FixedResponse): Promise<string> {
  const file = join(dir, 'response.json');
  await writeFile(file, JSON.stringify({ status: response.status, headers: response.headers, body: response.body.toString('base64') }));
  return file;
}

/** Starts a bare server (its own node process, as tender is) answering every request with the response in `responseFile`. */
export async function startBareServer(
  cleanup: Cleanup,
  kind: BareKind,
  responseFile: string,
  nodeArgs: readonly string[] = [],
): Promise<{ base: string; spawned: Spawned }> {
  const port = await freePort();
  const args = [...nodeArgs, '--import', 'tsx', 'bench/calibration-server.ts', kind, String(port), responseFile];
  const spawned = spawnTracked(cleanup, process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/v2/`, spawned, `calibration server (${kind})`);
  return { base, spawned };
}

/** Starts one calibration server, loads it, stops it. */
async function measureOne(
  cleanup: Cleanup,
  kind: CalibrationId,
  responseFile: string,
  path: string,
  connections: number,
  seconds: number,
  headers: Record<string, string>,
): Promise<RawLoad> {
  const scope = cleanup.scope();
  try {
    const { base, spawned } = await startBareServer(scope, kind, responseFile);
    const result = await measureLoad(`${base}${path}`, connections, seconds, headers, spawned.child.pid);
    await stopChild(spawned.child);
    return result;
  } finally {
    await scope.run();
  }
}

/**
 * Captures tender's answer for `url` (already warm) and measures both calibration servers answering it, with
 * the load generator, connections, duration and request headers tender's row used.
 */
export async function calibrate(
  cleanup: Cleanup,
  url: string,
  headers: Record<string, string>,
  connections: number,
  seconds: number,
  say: (msg: string) => void,
): Promise<Calibration> {
  const response = await captureResponse(url, headers);
  const responseFile = await writeResponseFile(await cleanup.tempDir('calibration'), response);
  const path = new URL(url).pathname;
  const runs = {} as Calibration['runs'];
  for (const kind of CALIBRATION_ORDER) {
    try {
      const r = await measureOne(cleanup, kind, responseFile, path, connections, seconds, headers);
      runs[kind] = r;
      say(
        `  ${CALIBRATION_LABELS[kind]} (same ${response.status}, ${response.body.length} body bytes): ${r.reqPerSec.toFixed(0)} req/s, ` +
          `p99 ${r.p99Ms} ms, ${r.cpuUsPerRequest?.toFixed(1) ?? 'n/a'} µs CPU per request`,
      );
    } catch (err) {
      const problem = `${CALIBRATION_LABELS[kind]}: ${(err as Error).message}`;
      say(`  ${problem}`);
      runs[kind] = { reqPerSec: Number.NaN, p99Ms: Number.NaN, total: 0, non2xx: 0, errors: 0, timeouts: 0, problem };
    }
  }
  return { bytes: response.body.length, status: response.status, runs };
}

/** What went wrong with a calibration run, for the report's problem list. */
export function calibrationProblems(scenario: string, c: Calibration): string[] {
  const replayed = c.status === 200 ? [] : [`calibration, ${scenario}: tender answered ${c.status}, so that is what the bare servers replayed`];
  return replayed.concat(
    CALIBRATION_ORDER.flatMap((kind) => {
      const x = c.runs[kind];
      if (x.problem) return [`calibration, ${scenario}: ${x.problem}`];
      if (x.non2xx || x.errors || x.timeouts)
        return [`calibration, ${scenario}, ${CALIBRATION_LABELS[kind]}: ${x.non2xx} non-2xx, ${x.errors} errors, ${x.timeouts} timeouts`];
      return [];
    }),
  );
}

export interface CalibrationRow {
  /** The tender row it calibrates, e.g. "b. warm 64 KiB blob". */
  scenario: string;
  tender: LoadResult;
  calibration: Calibration;
}

function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  return `${(a / b).toFixed(2)}×`;
}

const num = (n: number): string => (Number.isFinite(n) ? fixed(0)(n) : 'n/a');
const one = (n: number): string => (Number.isFinite(n) ? fixed(1)(n) : 'n/a');

/** The calibration table, printed under the main one: tender's own req/s and p99 from the same run, beside the bare servers'. */
export function renderCalibrationTable(rows: readonly CalibrationRow[]): string {
  const header = [
    'Same response, same load',
    'tender',
    CALIBRATION_LABELS.node,
    CALIBRATION_LABELS.hono,
    'tender/node:http',
    'tender/hono',
    'hono/node:http',
    `Target (issue 17, one process): ≥ 1/${BARE_TARGET_FACTOR} of node:http`,
    'Met',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of rows) {
    const t = row.tender.reqPerSec;
    const { node, hono } = row.calibration.runs;
    const n = node.reqPerSec;
    const h = hono.reqPerSec;
    const met = Number.isFinite(t) && Number.isFinite(n) ? (t * BARE_TARGET_FACTOR >= n ? 'yes' : '**no**') : '?';
    lines.push(
      `| ${row.scenario} (${fixed(0)(row.calibration.bytes)} B body): req/s | ${num(t)} | ${num(n)} | ${num(h)} | ${ratio(t, n)} | ${ratio(t, h)} | ${ratio(h, n)} | ≥ ${num(n / BARE_TARGET_FACTOR)} | ${met} |`,
    );
    lines.push(`| ${row.scenario}: p99 latency, ms | ${num(row.tender.p99Ms)} | ${num(node.p99Ms)} | ${num(hono.p99Ms)} | | | | | |`);
    const tc = row.tender.cpuUsPerRequest ?? Number.NaN;
    const nc = node.cpuUsPerRequest ?? Number.NaN;
    const hc = hono.cpuUsPerRequest ?? Number.NaN;
    lines.push(
      `| ${row.scenario}: server CPU per request, µs | ${one(tc)} | ${one(nc)} | ${one(hc)} | ${ratio(tc, nc)} | ${ratio(tc, hc)} | ${ratio(hc, nc)} | | |`,
    );
  }
  return lines.join('\n');
}
