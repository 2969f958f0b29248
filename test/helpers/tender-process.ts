// `tender serve` as its own process (the CLI under tsx), for what only a real process shows: workers (node:cluster),
// signals, files written by several processes. Its JSON log is parsed as it comes.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { stopProcess } from './processes.js';

const root = resolve(import.meta.dirname, '..', '..');
const cli = join(root, 'src', 'cli', 'tender.ts');

export interface TenderProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly logs: Array<Record<string, unknown>>;
  /** Worker id → pid, as each worker announced itself ('tender is serving'). */
  workers(): Map<number, number>;
  /** Resolves once `check` holds for the log, or rejects after `ms` (or when tender exited). */
  waitForLog(what: string, check: (logs: ReadonlyArray<Record<string, unknown>>) => boolean, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Writes `settings` as the config file in `dir` and starts `tender serve`; resolves once it serves (every worker, with workers). */
export async function startTenderProcess(dir: string, settings: Record<string, unknown>, startMs = 60_000): Promise<TenderProcess> {
  const file = join(dir, 'tender.yaml');
  await writeFile(file, JSON.stringify({ listen: '127.0.0.1:0', logLevel: 'info', ...settings }, null, 2)); // JSON is YAML
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  const waitForLog = async (what: string, check: (logs: ReadonlyArray<Record<string, unknown>>) => boolean, ms = 60_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!check(logs)) {
      if (child.exitCode !== null) throw new Error(`tender exited (${child.exitCode}) while waiting for ${what}\n${stderr.join('')}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${stderr.join('')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const workers = typeof settings.workers === 'number' && settings.workers > 1;
  await waitForLog('tender to serve', (l) => l.some((line) => line.msg === (workers ? 'all workers serving' : 'tender is serving')), startMs);
  const serving = logs.find((l) => l.msg === 'tender is serving')!;
  return {
    url: `http://${String(serving.listen)}`,
    child,
    logs,
    workers: () => new Map(logs.filter((l) => l.msg === 'tender is serving' && l.worker !== undefined).map((l) => [Number(l.worker), Number(l.pid)])),
    waitForLog,
    stop: () => stopProcess(child, 20_000),
  };
}
