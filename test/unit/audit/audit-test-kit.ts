// What the audit tests share: fresh counters to read back, a logger that keeps its lines, and a sample pull event.
import { Writable } from 'node:stream';
import { Counter, Registry } from 'prom-client';
import type { AuditCounters } from '../../../src/audit/audit-sink.js';
import type { PullEvent } from '../../../src/cache/pull-events.js';
import { createLogger, type Logger } from '../../../src/log.js';

export interface TestCounters extends AuditCounters {
  /** The value of one counter series, 0 when it was never incremented. */
  value(counter: 'delivered' | 'dropped' | 'failedAttempts', labels: Record<string, string>): Promise<number>;
}

export function testCounters(): TestCounters {
  const registry = new Registry();
  const counters = {
    delivered: new Counter({ name: 'test_audit_delivered_total', help: 'x', labelNames: ['sink'] as const, registers: [registry] }),
    dropped: new Counter({ name: 'test_audit_dropped_total', help: 'x', labelNames: ['sink', 'reason'] as const, registers: [registry] }),
    failedAttempts: new Counter({ name: 'test_audit_failed_total', help: 'x', labelNames: ['sink'] as const, registers: [registry] }),
  };
  return {
    ...counters,
    async value(counter, labels) {
      const { values } = await counters[counter].get();
      const match = values.find((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want));
      return match?.value ?? 0;
    },
  };
}

export interface CapturedLog {
  readonly log: Logger;
  /** Parsed log lines so far. */
  lines(): Array<Record<string, unknown>>;
}

export function captureLog(): CapturedLog {
  const text: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger('info', destination);
  return {
    log,
    lines: () =>
      text
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** The pull the fixtures describe: alice pulls docker.io/library/nginx:1.27 through containerd, a cache hit. */
export const sampleEvent: PullEvent = {
  id: '4c5a9d1e-8f0b-4b7a-9a55-3f6c2e1d7b90',
  time: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
  digest: 'sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf',
  mediaType: 'application/vnd.oci.image.index.v1+json',
  size: 10229,
  tag: '1.27',
  upstream: 'docker.io',
  repository: 'library/nginx',
  cacheResult: 'hit',
  method: 'GET',
  clientAddress: '10.0.0.7',
  userAgent: 'containerd/v2.0.0',
  identity: 'alice',
  requestId: 'r1-2a',
  host: 'mirror.example:5000',
};

/** The n-th of a series of otherwise equal events: ids of one length, so every line has the same size. */
export function numberedEvent(n: number): PullEvent {
  return { ...sampleEvent, id: `event-${String(n).padStart(6, '0')}` };
}

/** Polls `check` until it holds; the tests wait on outcomes, never on durations. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
