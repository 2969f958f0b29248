// The fan-out: every sink gets every event; a sink that throws harms neither the others nor the pull.
import { describe, expect, it } from 'vitest';
import type { AuditSink } from '../../../src/audit/audit-sink.js';
import { FanOutSink } from '../../../src/audit/fan-out-sink.js';
import type { PullEvent } from '../../../src/cache/pull-events.js';
import { captureLog, numberedEvent } from './audit-test-kit.js';

class RecordingSink implements AuditSink {
  readonly events: PullEvent[] = [];
  closedWith: number | undefined;
  get pending(): number {
    return this.events.length;
  }
  emit(event: PullEvent): void {
    this.events.push(event);
  }
  async close(deadlineMs: number): Promise<void> {
    this.closedWith = deadlineMs;
  }
}

const throwing: AuditSink = {
  pending: 0,
  emit() {
    throw new Error('broken adapter');
  },
  close: () => Promise.reject(new Error('broken adapter')),
};

describe('FanOutSink', () => {
  it('hands each event to every sink, even past one that throws, and never throws itself', () => {
    const [a, b] = [new RecordingSink(), new RecordingSink()];
    const captured = captureLog();
    const fan = new FanOutSink([a, throwing, b], captured.log);
    expect(() => fan.emit(numberedEvent(0))).not.toThrow();
    fan.emit(numberedEvent(1));
    expect(a.events.map((e) => e.id)).toEqual([numberedEvent(0).id, numberedEvent(1).id]);
    expect(b.events).toEqual(a.events);
    expect(fan.pending).toBe(4);
    expect(captured.lines().filter((l) => l.msg === 'an audit sink threw on emit')).toHaveLength(1); // once per interval
  });

  it('closes every sink with the deadline, whatever one of them does', async () => {
    const [a, b] = [new RecordingSink(), new RecordingSink()];
    await new FanOutSink([a, throwing, b], captureLog().log).close(1234);
    expect([a.closedWith, b.closedWith]).toEqual([1234, 1234]);
  });
});
