// Child processes, temp dirs and ports for the bench, with one cleanup path for success, error and SIGINT.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { waitForExit } from '../test/helpers/processes.js';
export { waitForExit };
export { freePort } from '../test/helpers/free-port.js';

type CleanupStep = () => Promise<void> | void;

/** Everything the bench started, undone in reverse order exactly once. */
export class Cleanup {
  private readonly steps: CleanupStep[] = [];
  private readonly children = new Set<ChildProcess>();
  private running: Promise<void> | undefined;
  private readonly scopes: Cleanup[] = [];

  add(step: CleanupStep): void {
    this.steps.push(step);
  }

  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `tender-bench-${prefix}-`));
    this.add(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /**
   * A nested cleanup for one scenario's processes, run when the scenario ends (scope.run()) or, at the
   * latest, with this one (on error or a signal); killAllNow reaches its children too.
   */
  scope(): Cleanup {
    const inner = new Cleanup();
    this.scopes.push(inner);
    this.add(() => inner.run());
    return inner;
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step();
        } catch (err) {
          process.stderr.write(`cleanup step failed: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.running;
  }

  /** Last resort from a synchronous 'exit' handler: no awaiting possible, so SIGKILL what is left. */
  killAllNow(): void {
    for (const scope of this.scopes) scope.killAllNow();
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  if (!(await waitForExit(child, 5_000))) {
    child.kill('SIGKILL');
    await waitForExit(child, 5_000);
  }
}

export interface Spawned {
  child: ChildProcess;
  /** Last lines of stdout+stderr, for error messages. */
  tail(): string;
  /** Resolves once a line of output matches (among the last 40 or later); rejects when the child exits or time runs out. */
  waitForLine(pattern: RegExp, what: string, deadlineMs?: number): Promise<void>;
}

/** Spawns a tracked child whose output is drained into a small ring buffer (a full pipe would stall it). */
export function spawnTracked(cleanup: Cleanup, command: string, args: string[], options: SpawnOptions = {}): Spawned {
  // options.stdio may send stdout elsewhere (a log file): only the pipes there are read.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  cleanup.track(child);
  cleanup.add(() => stopChild(child));
  const lines: string[] = [];
  const keep = (line: string): void => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', keep);
  if (child.stderr) createInterface({ input: child.stderr }).on('line', keep);
  child.on('error', (err) => keep(`spawn error: ${err.message}`));
  const tail = (): string => lines.join('\n');
  const waitForLine = async (pattern: RegExp, what: string, deadlineMs = 30_000): Promise<void> => {
    const deadline = Date.now() + deadlineMs;
    while (!lines.some((line) => pattern.test(line))) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${what}: exited (code ${child.exitCode}, signal ${child.signalCode}):\n${tail()}`);
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${deadlineMs} ms:\n${tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, tail, waitForLine };
}

/** Polls `url` until it answers 200, or throws with the child's output once the child dies or time runs out. */
export async function waitForHttp(url: string, spawned: Spawned, what: string, deadlineMs = 30_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    const { child } = spawned;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${spawned.tail()}`);
    }
    try {
      const res = await fetch(url, {
        headers: { 'user-agent': 'tender-test-harness/readiness' },
        signal: AbortSignal.timeout(1_000),
      });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${deadlineMs} ms:\n${spawned.tail()}`);
}
