// The pull audit as a JSON-lines file, rotated by size, written behind a bounded queue so a slow or failing disk
// never reaches a pull.
//
// emit() only formats the line and queues it; one writer drains the queue in chunks. The file is opened with
// O_APPEND, so lines are never written over another writer's (an operator's `echo >>`, a second process) and a
// file truncated under us is appended to from its new end. Before each chunk the path is checked against the open
// file (device and inode): when the file or its directory was removed or moved away, tender opens the path afresh
// (creating the directory) instead of writing on into an unlinked inode nobody can read. A failed write is counted,
// logged at most once per interval, and retried after a pause with the same lines, in order; meanwhile new events
// queue up to the bound and are then dropped and counted. Rotation happens before a chunk that would take the file
// past maxSize, so a file never exceeds it (a single line longer than maxSize gets a file of its own).
import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError } from '../oci/errors.js';
import type { Logger } from '../log.js';
import type { PullEvent } from '../cache/pull-events.js';
import type { AuditCounters, AuditDropReason, AuditSink, Sleep } from './audit-sink.js';
import { DeliveryQueue } from './delivery-queue.js';
import { pullEventLine } from './pull-event-line.js';
import { rotateFiles } from './rotate-files.js';
import { sleepUnlessAborted } from './sleep-unless-aborted.js';
import { ThrottledReport } from './throttled-report.js';

export interface JsonlFileSettings {
  /** The live file; rotated copies are `<path>.1` (newest) … `<path>.<maxFiles>` (oldest). */
  readonly path: string;
  /** Bytes the live file may reach; the chunk that would pass it goes to a fresh file. */
  readonly maxSize: number;
  /** Rotated copies kept besides the live file (logrotate's `rotate N`); 0 keeps none. */
  readonly maxFiles: number;
  /** Events held while the disk is slow or failing; beyond it new events are dropped and counted. */
  readonly queueSize?: number;
}

/** An open file that every write appends to. */
export interface AppendFile {
  /** Returns the bytes written, which may be fewer than given. */
  write(data: Buffer): Promise<number>;
  /** `regular` is false for a device or a pipe (`/dev/stdout`), which is never rotated. */
  stat(): Promise<{ readonly dev: number; readonly ino: number; readonly size: number; readonly regular: boolean }>;
  close(): Promise<void>;
}

export type OpenAppendFile = (path: string) => Promise<AppendFile>;

export interface JsonlFileDeps {
  readonly counters: AuditCounters;
  readonly log: Logger;
  readonly now?: () => number;
  /** Waits between retries of a failed write. */
  readonly sleep?: Sleep;
  /** Pause after a failed write before trying again (default 1 s). */
  readonly retryDelayMs?: number;
  /** At most one error line per this interval (default 60 s). */
  readonly logIntervalMs?: number;
  /** Opens the live file (default: O_WRONLY|O_APPEND|O_CREAT, mode 0640, creating the directory). */
  readonly openFile?: OpenAppendFile;
}

export const defaultQueueSize = 10_000;
/** Lines written per write call, at most (a chunk is one syscall in the common case). */
const chunkBytes = 1024 * 1024;
/**
 * To a pipe or device, at most PIPE_BUF (4096 on Linux) per write: a write that size lands whole, so workers
 * sharing `/dev/stdout` never interleave inside a line (a single longer line still goes in one write).
 */
const pipeChunkBytes = 4096;

export class JsonlFileSink implements AuditSink {
  private readonly queue: DeliveryQueue<Buffer>;
  private file: AppendFile | undefined;
  private fileId: string | undefined;
  private size = 0;
  /** Only a regular file is rotated: renaming a device node or a pipe would break what else uses it. */
  private regular = true;
  /** Part of a line reached the file before a write failed: the next write starts a new line. */
  private torn = false;
  private closed: Promise<void> | undefined;
  private readonly sleep: Sleep;
  private readonly openFile: OpenAppendFile;
  private readonly failure: ThrottledReport;

  constructor(
    private readonly settings: JsonlFileSettings,
    private readonly deps: JsonlFileDeps,
  ) {
    if (!(settings.maxSize >= 1)) throw new RangeError(`audit file maxSize must be at least 1 byte, got ${settings.maxSize}`);
    if (!Number.isInteger(settings.maxFiles) || settings.maxFiles < 0) throw new RangeError(`audit file maxFiles must be 0 or more, got ${settings.maxFiles}`);
    this.queue = new DeliveryQueue(
      settings.queueSize ?? defaultQueueSize,
      () => this.drain(),
      (reason, count) => this.drop(reason, count),
    );
    this.sleep = deps.sleep ?? sleepUnlessAborted;
    this.openFile = deps.openFile ?? openAppendFile;
    this.failure = new ThrottledReport(deps.log, 'cannot write the audit file', deps.logIntervalMs ?? 60_000, deps.now ?? Date.now);
  }

  get pending(): number {
    return this.queue.pending;
  }

  emit(event: PullEvent): void {
    try {
      this.queue.offer(() => Buffer.from(pullEventLine(event)));
    } catch {
      // The port's promise: nothing reaches the pull. Formatting plain strings and numbers does not throw.
    }
  }

  close(deadlineMs: number): Promise<void> {
    this.closed ??= this.shutdown(deadlineMs);
    return this.closed;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    await this.queue.close(deadlineMs);
    // A write stuck past the deadline (a dead network mount) is not waited for; its lines count when it ends.
    const stuck = this.queue.delivering;
    if (stuck) void stuck.finally(() => this.closeFile());
    else await this.closeFile();
  }

  private async drain(): Promise<void> {
    while (this.queue.items.length > 0 && !this.queue.stop.signal.aborted) {
      try {
        await this.writeChunk();
      } catch (err) {
        this.deps.counters.failedAttempts.inc({ sink: 'file' });
        this.failure.report({ path: this.settings.path, err: describeError(err), pending: this.pending });
        await this.closeFile();
        await this.sleep(this.deps.retryDelayMs ?? 1000, this.queue.stop.signal);
      }
    }
  }

  /** Writes the lines at the head of the queue that fit in the live file, or rotates when none does. */
  private async writeChunk(): Promise<void> {
    await this.ensureOpen();
    const file = this.file!;
    const maxSize = this.regular ? this.settings.maxSize : Number.POSITIVE_INFINITY;
    const maxChunk = this.regular ? chunkBytes : pipeChunkBytes;
    let bytes = 0;
    let count = 0;
    for (const line of this.queue.items) {
      const fits = this.size + bytes + line.length <= maxSize || this.size + bytes === 0;
      if (!fits || (count > 0 && bytes + line.length > maxChunk)) break;
      bytes += line.length;
      count += 1;
    }
    if (count === 0) {
      await this.rotate();
      return;
    }
    const lines = this.queue.items.splice(0, count);
    this.queue.inFlight = count;
    const prefix = this.torn ? 1 : 0;
    const data = Buffer.concat(prefix ? [newline, ...lines] : lines);
    let written = 0;
    try {
      while (written < data.length) {
        const n = await file.write(data.subarray(written));
        if (!(n > 0)) throw new Error('the write call wrote nothing');
        written += n;
        this.size += n;
      }
    } finally {
      this.queue.inFlight = 0;
      let done = 0;
      let end = prefix;
      for (const line of lines) {
        if (end + line.length > written) break;
        end += line.length;
        done += 1;
      }
      if (written >= prefix) this.torn = written > end;
      if (done > 0) this.deps.counters.delivered.inc({ sink: 'file' }, done);
      const undone = lines.slice(done);
      if (this.queue.stop.signal.aborted) this.drop('shutdown', undone.length);
      else this.queue.items.unshift(...undone);
    }
  }

  /** Opens the path, or reopens it when the open file is no longer what the path names. */
  private async ensureOpen(): Promise<void> {
    if (this.file) {
      const current = await statIfPresent(this.settings.path);
      if (current && `${current.dev}:${current.ino}` === this.fileId) return;
      this.deps.log.warn({ path: this.settings.path }, 'the audit file was removed or moved away; opening it afresh');
      await this.closeFile();
    }
    const file = await this.openFile(this.settings.path);
    try {
      const state = await file.stat();
      const id = `${state.dev}:${state.ino}`;
      if (id !== this.fileId) this.torn = false; // a torn line stays in the file it was written to
      this.fileId = id;
      this.size = state.size;
      this.regular = state.regular;
      this.file = file;
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  }

  private async rotate(): Promise<void> {
    await this.closeFile();
    await rotateFiles(this.settings.path, this.settings.maxFiles);
    this.fileId = undefined;
    this.torn = false;
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await file?.close().catch(() => undefined);
  }

  private drop(reason: AuditDropReason, count: number): void {
    if (count > 0) this.deps.counters.dropped.inc({ sink: 'file', reason }, count);
  }
}

const newline = Buffer.from('\n');

/** Opens for appending only, creating the file (0640: it names clients and identities) and its directory. */
export async function openAppendFile(path: string): Promise<AppendFile> {
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;
  let handle;
  try {
    handle = await open(path, flags, 0o640);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true, mode: 0o750 });
    handle = await open(path, flags, 0o640);
  }
  const opened = handle;
  return {
    write: async (data) => (await opened.write(data)).bytesWritten,
    stat: async () => {
      const state = await opened.stat();
      return { dev: state.dev, ino: state.ino, size: state.size, regular: state.isFile() };
    },
    close: () => opened.close(),
  };
}

async function statIfPresent(path: string): Promise<{ dev: number; ino: number } | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
