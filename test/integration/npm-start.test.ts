// `npm start` as an operator runs it: npm and one node running dist/, and SIGTERM to npm's pid stops the server.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { stopProcess, waitForExit } from '../helpers/processes.js';

const root = resolve(import.meta.dirname, '..', '..');

/** pid, parent pid and process group of every process, from /proc/<pid>/stat (the name may hold spaces). */
function processes(): Array<{ pid: number; ppid: number; pgrp: number }> {
  const found: Array<{ pid: number; ppid: number; pgrp: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      found.push({ pid: Number(entry), ppid: Number(ppid), pgrp: Number(pgrp) });
    } catch {
      // The process exited while we looked.
    }
  }
  return found;
}

const childrenOf = (pid: number): number[] =>
  processes()
    .filter((p) => p.ppid === pid)
    .map((p) => p.pid);
const groupMembers = (pgrp: number): number[] =>
  processes()
    .filter((p) => p.pgrp === pgrp)
    .map((p) => p.pid);

const commandLine = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when a listener can bind the port again. */
function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status === 200;
  } catch {
    return false;
  }
}

describe.runIf(process.platform === 'linux')('npm start', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('runs dist/ as one node process under npm, and SIGTERM to npm stops it and frees the port', async () => {
    // A clone installed with --ignore-scripts has no dist/ yet; npm install builds it (prepare).
    if (!existsSync(join(root, 'dist', 'cli', 'tender.js'))) expect(spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' }).status).toBe(0);
    const cacheDir = await mkdtemp(join(tmpdir(), 'tender-npm-start-'));
    cleanups.push(() => rm(cacheDir, { recursive: true, force: true }));
    const port = await freePort();
    const npm = spawn('npm', ['start', '--', '--listen', `127.0.0.1:${port}`, '--cache-dir', cacheDir], {
      cwd: root,
      // One process: what is checked here is npm's wrapping, not the workers (test/integration/workers.test.ts).
      env: { ...process.env, TENDER_LOG_LEVEL: 'warn', TENDER_WORKERS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so the cleanup can reach anything it leaves behind when the test fails.
      detached: true,
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const group = npm.pid!;
    cleanups.push(async () => {
      await stopProcess(npm, 5_000);
      for (const pid of groupMembers(group)) process.kill(pid, 'SIGKILL');
    });

    const url = `http://127.0.0.1:${port}/v2/`;
    const deadline = Date.now() + 30_000;
    while (!(await answers(url))) {
      if (npm.exitCode !== null || Date.now() > deadline) throw new Error(`tender did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // npm runs the script through sh, which execs node: npm's one child is node itself.
    const children = childrenOf(npm.pid!);
    expect(children).toHaveLength(1);
    const server = children[0]!;
    expect(commandLine(server).slice(1, 3)).toEqual(['dist/cli/tender.js', 'serve']);
    expect(childrenOf(server)).toEqual([]);

    npm.kill('SIGTERM');
    expect(await waitForExit(npm, 30_000)).toBe(true);
    expect(npm.exitCode).toBe(0);
    expect(alive(server)).toBe(false);
    expect(groupMembers(group)).toEqual([]);
    expect(await portFree(port)).toBe(true);
  });
});
