// The JSON-lines audit file: every event once and in order, rotation by size, a bounded queue, and disk trouble
// (write errors, torn writes, a vanished directory, a hung disk) kept away from the pull.
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonlFileSink, openAppendFile, type AppendFile, type JsonlFileSettings, type OpenAppendFile } from '../../../src/audit/jsonl-file-sink.js';
import { pullEventLine } from '../../../src/audit/pull-event-line.js';
import { captureLog, numberedEvent, testCounters, until, type TestCounters } from './audit-test-kit.js';

let dir: string;
let path: string;
const sinks: JsonlFileSink[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tender-audit-'));
  path = join(dir, 'audit', 'pulls.jsonl');
});

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close(1000)));
  await rm(dir, { recursive: true, force: true });
});

/** Every line is the same length (numberedEvent), so rotation can be reasoned about in lines. */
const lineBytes = Buffer.byteLength(pullEventLine(numberedEvent(0)));

function makeSink(settings: Partial<JsonlFileSettings> = {}, extra: { openFile?: OpenAppendFile; logIntervalMs?: number } = {}) {
  const counters = testCounters();
  const captured = captureLog();
  const sleeps: number[] = [];
  const sink = new JsonlFileSink(
    { path, maxSize: 1024 * 1024, maxFiles: 3, ...settings },
    { counters, log: captured.log, sleep: async (ms) => void sleeps.push(ms), ...extra },
  );
  sinks.push(sink);
  return { sink, counters, captured, sleeps };
}

const ids = async (file: string): Promise<string[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { id: string }).id);

const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => numberedEvent(from + i).id);

const delivered = (counters: TestCounters) => counters.value('delivered', { sink: 'file' });

describe('JsonlFileSink', () => {
  it('writes each event as one line, in order, creating the directory', async () => {
    const { sink, counters } = makeSink();
    for (let n = 0; n < 50; n += 1) sink.emit(numberedEvent(n));
    await sink.close(5000);
    expect(await ids(path)).toEqual(range(0, 50));
    expect(await delivered(counters)).toBe(50);
    expect((await stat(path)).mode & 0o777).toBe(0o640);
  });

  it('returns from emit before touching the disk', async () => {
    const { sink } = makeSink();
    sink.emit(numberedEvent(0));
    expect(sink.pending).toBe(1);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await sink.close(5000);
    expect(await ids(path)).toEqual(range(0, 1));
  });

  it('rotates before a file would pass maxSize and keeps maxFiles rotated copies', async () => {
    const perFile = 3;
    const { sink } = makeSink({ maxSize: lineBytes * perFile + lineBytes - 1, maxFiles: 2 });
    for (let n = 0; n < 10; n += 1) {
      sink.emit(numberedEvent(n));
      await until(() => sink.pending === 0, 'the line to be written'); // one line per write: rotation at every boundary
    }
    await sink.close(5000);
    expect((await readdir(join(dir, 'audit'))).sort()).toEqual(['pulls.jsonl', 'pulls.jsonl.1', 'pulls.jsonl.2']);
    // 10 lines, 3 per file: 0-2 rotated out of existence, 3-5 in .2, 6-8 in .1, 9 live.
    expect(await ids(`${path}.2`)).toEqual(range(3, 6));
    expect(await ids(`${path}.1`)).toEqual(range(6, 9));
    expect(await ids(path)).toEqual(range(9, 10));
    for (const file of [path, `${path}.1`, `${path}.2`]) expect((await stat(file)).size).toBeLessThanOrEqual(lineBytes * perFile + lineBytes - 1);
  });

  it('splits a chunk of queued lines across files at line boundaries', async () => {
    const { sink } = makeSink({ maxSize: lineBytes * 4, maxFiles: 5 });
    for (let n = 0; n < 10; n += 1) sink.emit(numberedEvent(n)); // all queued before the writer starts
    await sink.close(5000);
    expect(await ids(`${path}.2`)).toEqual(range(0, 4));
    expect(await ids(`${path}.1`)).toEqual(range(4, 8));
    expect(await ids(path)).toEqual(range(8, 10));
  });

  it('with maxFiles 0 keeps only the live file', async () => {
    const { sink } = makeSink({ maxSize: lineBytes * 2, maxFiles: 0 });
    for (let n = 0; n < 5; n += 1) sink.emit(numberedEvent(n));
    await sink.close(5000);
    expect(await readdir(join(dir, 'audit'))).toEqual(['pulls.jsonl']);
    expect(await ids(path)).toEqual(range(4, 5));
  });

  it('rotates a file left larger than maxSize by an earlier run before writing to it', async () => {
    const { sink } = makeSink({ maxSize: lineBytes * 2, maxFiles: 1 });
    await mkdir(join(dir, 'audit'));
    await writeFile(path, 'x'.repeat(lineBytes * 3));
    sink.emit(numberedEvent(0));
    await sink.close(5000);
    expect((await readFile(`${path}.1`, 'utf8')).length).toBe(lineBytes * 3);
    expect(await ids(path)).toEqual(range(0, 1));
  });

  it('appends after lines another writer added (O_APPEND), never over them', async () => {
    const { sink } = makeSink();
    sink.emit(numberedEvent(0));
    await until(() => sink.pending === 0, 'the first line');
    await appendFile(path, '{"id":"external"}\n');
    sink.emit(numberedEvent(1));
    await sink.close(5000);
    expect(await ids(path)).toEqual([numberedEvent(0).id, 'external', numberedEvent(1).id]);
  });

  it('never rotates what is not a regular file (a device such as /dev/stdout)', async () => {
    let size = 0;
    const openFile: OpenAppendFile = async (p) => {
      const file = await openAppendFile(p);
      return { ...file, stat: async () => ({ ...(await file.stat()), size, regular: false }) };
    };
    const { sink } = makeSink({ maxSize: lineBytes, maxFiles: 2 }, { openFile });
    size = lineBytes * 10;
    for (let n = 0; n < 3; n += 1) sink.emit(numberedEvent(n));
    await sink.close(5000);
    expect(await readdir(join(dir, 'audit'))).toEqual(['pulls.jsonl']);
    expect(await ids(path)).toEqual(range(0, 3));
  });

  it('drops and counts events beyond the queue bound', async () => {
    const { sink, counters } = makeSink({ queueSize: 5 });
    for (let n = 0; n < 8; n += 1) sink.emit(numberedEvent(n)); // the writer has not run yet: all 8 meet a queue of 5
    expect(sink.pending).toBe(5);
    await sink.close(5000);
    expect(await ids(path)).toEqual(range(0, 5));
    expect(await counters.value('dropped', { sink: 'file', reason: 'queue-full' })).toBe(3);
  });

  it('counts a failed write, logs it once per interval, retries and loses nothing', async () => {
    let failures = 3;
    const openFile: OpenAppendFile = async (p) => failing(await openAppendFile(p), () => failures-- > 0);
    const { sink, counters, captured, sleeps } = makeSink({}, { openFile, logIntervalMs: 60_000 });
    for (let n = 0; n < 20; n += 1) sink.emit(numberedEvent(n));
    await sink.close(5000);
    expect(await ids(path)).toEqual(range(0, 20));
    expect(await counters.value('failedAttempts', { sink: 'file' })).toBe(3);
    expect(await delivered(counters)).toBe(20);
    expect(sleeps).toEqual([1000, 1000, 1000]);
    const errors = captured.lines().filter((l) => l.msg === 'cannot write the audit file');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path, err: expect.stringContaining('ENOSPC') });
  });

  it('after a torn write starts a new line, so every event is still one whole line', async () => {
    // write(2) on a filling disk: a short count first (one line and half the next), then ENOSPC.
    let call = 0;
    const openFile: OpenAppendFile = async (p) => {
      const file = await openAppendFile(p);
      return {
        ...file,
        write: async (data) => {
          call += 1;
          if (call === 1) return file.write(data.subarray(0, Math.floor(lineBytes * 1.5)));
          if (call === 2) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
          return file.write(data);
        },
      };
    };
    const { sink, counters } = makeSink({}, { openFile });
    for (let n = 0; n < 4; n += 1) sink.emit(numberedEvent(n));
    await sink.close(5000);
    const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
    const whole = lines.flatMap((line) => {
      try {
        return [(JSON.parse(line) as { id: string }).id];
      } catch {
        return [];
      }
    });
    expect(whole).toEqual(range(0, 4));
    expect(lines).toHaveLength(5); // the torn half line stays, on a line of its own
    expect(lines[1]).toBe(pullEventLine(numberedEvent(1)).slice(0, Math.floor(lineBytes * 0.5)));
    expect(await delivered(counters)).toBe(4);
  });

  it('opens the path afresh when its directory was removed', async () => {
    const { sink, captured } = makeSink();
    sink.emit(numberedEvent(0));
    await until(() => sink.pending === 0, 'the first line');
    await rm(join(dir, 'audit'), { recursive: true });
    sink.emit(numberedEvent(1));
    await sink.close(5000);
    expect(await ids(path)).toEqual(range(1, 2));
    expect(captured.lines().some((l) => l.msg === 'the audit file was removed or moved away; opening it afresh')).toBe(true);
  });

  it('closes by its deadline when the disk hangs, and counts what could not be written', async () => {
    let writing = false;
    const openFile: OpenAppendFile = async (p) => ({
      ...(await openAppendFile(p)),
      write: () => {
        writing = true;
        return new Promise<number>(() => undefined);
      },
    });
    const { sink, counters } = makeSink({}, { openFile });
    sink.emit(numberedEvent(0));
    await until(() => writing, 'the write to start');
    sink.emit(numberedEvent(1)); // queued behind the hung write
    await sink.close(100);
    expect(await counters.value('dropped', { sink: 'file', reason: 'shutdown' })).toBe(1);
    sink.emit(numberedEvent(2));
    expect(await counters.value('dropped', { sink: 'file', reason: 'shutdown' })).toBe(2);
  });

  it('refuses settings it cannot honour', () => {
    const { log } = captureLog();
    const counters = testCounters();
    expect(() => new JsonlFileSink({ path, maxSize: 0, maxFiles: 1 }, { counters, log })).toThrow(/maxSize/);
    expect(() => new JsonlFileSink({ path, maxSize: 10, maxFiles: -1 }, { counters, log })).toThrow(/maxFiles/);
  });
});

/** A file whose writes fail with ENOSPC while `fail()` says so. */
function failing(file: AppendFile, fail: () => boolean): AppendFile {
  return {
    ...file,
    write: async (data) => {
      if (fail()) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return file.write(data);
    },
  };
}
