// How `tender seed` shows progress: a bar per image on a terminal (cli-progress), log lines elsewhere,
// and one summary table at the end.
import cliProgress from 'cli-progress';
import type { SeedProgress, SeedResult } from './seed.js';

const MB = 1e6;

export function terminalProgress(): SeedProgress & { stop(): void } {
  const bars = new cliProgress.MultiBar(
    { format: '{ref} |{bar}| {percentage}% {done}/{all} MB {rate} MB/s', hideCursor: true, clearOnComplete: false, autopadding: true },
    cliProgress.Presets.shades_classic,
  );
  const active = new Map<string, { bar: cliProgress.SingleBar; started: number; done: number }>();
  const payload = (ref: string, done: number, total: number, started: number) => ({
    ref,
    done: (done / MB).toFixed(1),
    all: (total / MB).toFixed(1),
    rate: (done / MB / Math.max(0.001, (performance.now() - started) / 1000)).toFixed(1),
  });
  return {
    start(ref, total) {
      const started = performance.now();
      active.set(ref, { bar: bars.create(Math.max(1, total), 0, payload(ref, 0, total, started)), started, done: 0 });
    },
    advance(ref, bytes) {
      const entry = active.get(ref);
      if (!entry) return;
      entry.done += bytes;
      entry.bar.update(entry.done, payload(ref, entry.done, entry.bar.getTotal(), entry.started));
    },
    finish(result) {
      const entry = active.get(result.ref);
      if (entry)
        entry.bar.update(entry.bar.getTotal(), payload(result.ref, result.ok ? entry.bar.getTotal() : entry.done, entry.bar.getTotal(), entry.started));
    },
    stop: () => bars.stop(),
  };
}

export function lineProgress(write: (line: string) => void): SeedProgress & { stop(): void } {
  return {
    start: (ref, total) => write(`seeding ${ref}: ${(total / MB).toFixed(1)} MB of blobs`),
    advance: () => undefined,
    finish: (r) => write(r.ok ? `seeded ${r.ref} ${r.digest} (${(r.fetched / MB).toFixed(1)} MB fetched, ${r.ms} ms)` : `FAILED ${r.ref}: ${r.error}`),
    stop: () => undefined,
  };
}

export function summaryTable(results: readonly SeedResult[]): string {
  const rows = results.map((r) => [
    r.ok ? 'ok' : 'FAILED',
    r.ref,
    r.digest ?? '-',
    String(r.blobs),
    String(r.attachments),
    (r.bytes / MB).toFixed(1),
    (r.fetched / MB).toFixed(1),
    (r.ms / 1000).toFixed(1),
    r.error ?? '',
  ]);
  const header = ['status', 'image', 'digest', 'blobs', 'signatures', 'MB', 'fetched MB', 's', 'error'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
