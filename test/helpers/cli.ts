// Runs the `tender` command as operators do (a child process through tsx) and collects its exit code, output and wall time.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..');
const cli = join(repoRoot, 'src', 'cli', 'tender.ts');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the whole process, start-up included. */
  readonly ms: number;
}

export interface CliOptions {
  readonly env?: Record<string, string>;
  /** Default 120 s; the process is killed (SIGKILL) after it. */
  readonly timeoutMs?: number;
}

/** `tender <args...>`; resolves (never rejects on a non-zero exit) once the process has exited. */
export function runTender(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Math.round(performance.now() - started) });
    });
  });
}

/** The command line as an operator would type it, for failure messages and notes. */
export function describeRun(args: readonly string[], result: CliResult): string {
  return `tender ${args.join(' ')} -> exit ${result.code} in ${result.ms} ms\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
}

/** `tender <args...>` that must exit 0: its result, or an error showing the whole run. */
export async function runTenderOk(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const result = await runTender(args, options);
  if (result.code !== 0) throw new Error(describeRun(args, result));
  return result;
}

/** The seed summary table's row for `ref`: status, image, digest, blobs, signatures, … (progress lines name the image too). */
export function seedRow(stdout: string, ref: string): string[] | undefined {
  return stdout
    .split('\n')
    .map((l) => l.split(/\s+/))
    .find((cells) => (cells[0] === 'ok' || cells[0] === 'FAILED') && cells[1] === ref);
}
