// `npm run bench:profile`: tender's warm hit paths under the bench's own load (ab, 64 connections), each on a
// fresh tender process started with `node --cpu-prof`; the profile is summed over the load window only (start-up,
// warm-up miss and shutdown left out) and printed as markdown: where the busy time went, per place and function.
//
//   npm run bench:profile                                   blob and manifest by digest, 10 s each, logLevel warn
//   npm run bench:profile -- --paths blob,manifest,tag --seconds 15 --log-level info --interval 250
//   npm run bench:profile -- --target node          the bare node:http calibration server instead (also: hono,
//                                                   hono-skeleton), answering what tender answered on that path
//
// Writes bench/results/profile-<target>-<path>-<logLevel>.{cpuprofile,md,json} (open the .cpuprofile in Chrome
// DevTools; the .json has the load window and figures).
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderSummary, summarise, type CpuProfile, type ProfileSummary } from './cpu-profile.js';
import { captureResponse, startBareServer, writeResponseFile, type BareKind } from './calibration.js';
import { serverCpuTimes } from './cpu.js';
import { buildDist, cleanupOnExit, hitRequest, parseHitPaths, repoRoot, say, upstreamWithContent, warm } from './hit-paths.js';
import { stopChild } from './procs.js';
import { startTenderProxy } from './proxies.js';
import { measureLoad } from './scenarios.js';

const { values } = parseArgs({
  options: {
    paths: { type: 'string', default: 'blob,manifest' },
    seconds: { type: 'string', default: '10' },
    interval: { type: 'string', default: '250' },
    'log-level': { type: 'string', default: 'warn' },
    target: { type: 'string', default: 'tender' },
    'no-build': { type: 'boolean', default: false },
  },
});
const bareKinds: readonly BareKind[] = ['node', 'hono', 'hono-skeleton'];
const target = values.target;
if (target !== 'tender' && !bareKinds.includes(target as BareKind)) throw new Error(`--target is tender or one of ${bareKinds.join(', ')}`);
const paths = parseHitPaths(values.paths);
const seconds = Number(values.seconds);
const intervalUs = Number(values.interval);
const logLevel = ((level: string): 'warn' | 'info' => {
  if (level !== 'warn' && level !== 'info') throw new Error('--log-level is warn (as the bench runs) or info (tender’s default)');
  return level;
})(values['log-level']);
const outDir = join(repoRoot, 'bench', 'results');

const cleanup = cleanupOnExit();

async function main(): Promise<void> {
  if (!values['no-build']) buildDist();
  await mkdir(outDir, { recursive: true });
  const { upstream, content } = await upstreamWithContent(cleanup);
  const reports: string[] = [];
  for (const path of paths) {
    const scope = cleanup.scope();
    const dir = await scope.tempDir('profile');
    const name = `profile-${target}-${path}-${logLevel}`;
    // Node writes one profile per thread (a loader such as tsx has its own): each lands in profDir under its own name.
    const profDir = join(dir, 'cpuprofiles');
    const profArgs = ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${intervalUs}`];
    // At info every request writes a JSON line: into a file, as into a container runtime's log pipe, not the driver.
    const logFd = openSync(join(dir, 'tender.log'), 'w');
    scope.add(() => closeSync(logFd));
    const tender = await startTenderProxy(scope, upstream.url, {
      logLevel,
      stdoutFd: logFd,
      workers: 1,
      ...(target === 'tender' ? { nodeArgs: profArgs } : {}),
    });
    const tenderReq = hitRequest(path, tender.url, content);
    await warm(tenderReq);
    let server: { url: string; child: ChildProcess } = { url: tender.url, child: tender.spawned.child };
    if (target !== 'tender') {
      // The bare server answers with what tender answered; tender itself then sits idle.
      const file = await writeResponseFile(dir, await captureResponse(tenderReq.url, tenderReq.headers));
      const bare = await startBareServer(scope, target as BareKind, file, profArgs);
      server = { url: bare.base, child: bare.spawned.child };
    }
    const pid = server.child.pid ?? 0;
    const req = hitRequest(path, server.url, content);
    say(`${req.what} → ${target}: ab -c ${req.connections} for ${seconds} s on ${server.url} (pid ${pid}, --cpu-prof every ${intervalUs} µs)`);
    // Same clock as V8's profile timestamps (CLOCK_MONOTONIC), in µs.
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const cpu0 = await serverCpuTimes(pid);
    const load = await measureLoad(req.url, req.connections, seconds, req.headers, pid);
    const cpu1 = await serverCpuTimes(pid);
    const toUs = Number(process.hrtime.bigint() / 1000n);
    const user = cpu1.user - cpu0.user;
    const system = cpu1.system - cpu0.system;
    say(
      `  ${load.reqPerSec.toFixed(0)} req/s, p99 ${load.p99Ms} ms, ${load.total} requests, non-2xx ${load.non2xx}, errors ${load.errors}, ` +
        `${load.cpuUsPerRequest?.toFixed(1) ?? 'n/a'} µs CPU per request (user ${user.toFixed(2)} s, system ${system.toFixed(2)} s)`,
    );
    // SIGTERM: the server exits normally, and node writes the profile on the way out.
    await stopChild(server.child);
    // The main thread's profile is the one that was busy during the load.
    let profile: CpuProfile | undefined;
    let summary: ProfileSummary | undefined;
    for (const file of (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'))) {
      const p = JSON.parse(await readFile(join(profDir, file), 'utf8')) as CpuProfile;
      if (fromUs < p.startTime || toUs > p.endTime) continue; // a thread that did not live through the load
      const s = summarise(p, repoRoot, fromUs, toUs);
      if (!summary || s.busyMs > summary.busyMs) [profile, summary] = [p, s];
    }
    if (!profile || !summary) throw new Error(`no profile in ${profDir} covers the load window`);
    const md = [
      `### ${target === 'tender' ? `tender, logLevel ${logLevel}` : `${target} (answering as tender did)`}, ${req.what}: ` +
        `${load.reqPerSec.toFixed(0)} req/s under --cpu-prof (${req.connections} connections, ${seconds} s)`,
      '',
      `CPU over the load window (/proc): user ${user.toFixed(2)} s, system ${system.toFixed(2)} s (${((100 * system) / Math.max(1e-9, user + system)).toFixed(0)} % system).`,
      '',
      renderSummary(summary, { requests: load.total, ...(load.cpuUsPerRequest === undefined ? {} : { cpuUsPerRequest: load.cpuUsPerRequest }) }),
      '',
    ].join('\n');
    await writeFile(join(outDir, `${name}.cpuprofile`), JSON.stringify(profile));
    await writeFile(join(outDir, `${name}.md`), md);
    // The load window and the load's figures, to sum the saved profile again later (cpu-profile.ts summarise()).
    const meta = { target, path, logLevel, fromUs, toUs, requests: load.total, reqPerSec: load.reqPerSec, cpuUsPerRequest: load.cpuUsPerRequest, user, system };
    await writeFile(join(outDir, `${name}.json`), `${JSON.stringify(meta, null, 2)}\n`);
    reports.push(md);
    await scope.run();
  }
  process.stdout.write(`${reports.join('\n')}\nwritten to ${outDir}/profile-*.{md,cpuprofile}\n`);
}

main().then(
  async () => {
    await cleanup.run();
    process.exit(0);
  },
  async (err: unknown) => {
    process.stderr.write(`bench:profile failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup.run();
    process.exit(1);
  },
);
