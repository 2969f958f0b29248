// Runs a real redis-server (no persistence) on a free loopback port, for tests of tender's shared metadata.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitForExit } from './processes.js';

export interface RedisHandle {
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** SIGTERM (SIGKILL after 5 s) and removal of the working directory. */
  stop(): Promise<void>;
  /** SIGKILL, no shutdown: clients see their connections reset. The port stays reserved for restart(). */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port (empty: nothing is saved), after kill() or on a running one. */
  restart(): Promise<void>;
}

const READY_DEADLINE_MS = 10_000;
const KILL_AFTER_MS = 5_000;

/** PING over a raw connection; true on +PONG. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export async function startRedis(): Promise<RedisHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'tender-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output: string[] = [];

  const launch = async (): Promise<void> => {
    output = [];
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      if (output.length > 50) output.shift();
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let failed: string | undefined;
    proc.once('error', (err) => (failed = `redis-server failed to start: ${err.message}`));
    proc.once('exit', (code, signal) => (failed ??= `redis-server exited early (code ${code}, signal ${signal})`));
    const deadline = Date.now() + READY_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (failed) throw new Error(`${failed}\n${output.join('')}`);
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`redis-server not answering PING on port ${port} within ${READY_DEADLINE_MS} ms\n${output.join('')}`);
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    if (!proc || exited(proc)) return;
    proc.kill('SIGKILL');
    await waitForExit(proc, KILL_AFTER_MS);
  };

  const terminate = async (): Promise<void> => {
    const proc = child;
    if (!proc || exited(proc)) return;
    proc.kill('SIGTERM');
    if (!(await waitForExit(proc, KILL_AFTER_MS))) await kill();
  };

  try {
    await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    restart: async () => {
      await terminate();
      await launch();
    },
    stop: async () => {
      await terminate();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
