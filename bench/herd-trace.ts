// BENCH_TRACE=1 for `npm run bench:herd`: tender runs at logLevel debug, and its flight timeline
// (src/cache/flight-timeline.ts: lease decision, upstream GET and headers, first bytes written, announced,
// follower's first read, each response's head and first body bytes) is printed against the herd's clients'
// own times, all in ms from the herd's common start. Every process of the host stamps the same wall clock.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { HerdResult } from './scenarios.js';

export const TRACE = process.env.BENCH_TRACE === '1';

export interface TimelineLine {
  step: string;
  at: number;
  pid: number;
  digest: string;
  rest: Record<string, unknown>;
}

/** Collects the `flight timeline` lines a tender (all its workers) writes on stdout from now on. */
export function collectTimeline(child: ChildProcess, label: string): { lines: Array<TimelineLine & { label: string }> } {
  const lines: Array<TimelineLine & { label: string }> = [];
  if (!child.stdout) return { lines };
  createInterface({ input: child.stdout }).on('line', (text) => {
    if (!text.includes('"flight timeline"')) return;
    try {
      const { step, at, pid, digest, level: _l, time: _t, service: _s, msg: _m, ...rest } = JSON.parse(text) as Record<string, unknown>;
      if (typeof step === 'string' && typeof at === 'number' && typeof pid === 'number') lines.push({ step, at, pid, digest: String(digest), rest, label });
    } catch {
      // not a line of ours
    }
  });
  return { lines };
}

/** The timeline as text: tender's steps per process, then each client's headers and first byte (ms from the start). */
export function formatTimeline(herd: HerdResult, lines: ReadonlyArray<TimelineLine & { label: string }>, clientLabel: (i: number) => string): string {
  const ms = (at: number): string => (at - herd.startedAt).toFixed(1).padStart(7);
  const out: string[] = [];
  const sorted = [...lines].sort((a, b) => a.at - b.at);
  for (const l of sorted) {
    const extra = Object.entries(l.rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    out.push(`  ${ms(l.at)}  ${l.label} pid ${l.pid}  ${l.step}${extra ? `  ${extra}` : ''}`);
  }
  const clients = herd.clients.map((c, i) => ({ i, ...c })).sort((a, b) => a.firstByteMs - b.firstByteMs);
  for (const c of clients)
    out.push(`  client ${String(c.i).padStart(2)} (${clientLabel(c.i)}): headers ${c.headersMs.toFixed(1)}, first byte ${c.firstByteMs.toFixed(1)}`);
  return out.join('\n');
}
