// The notification sink against a real HTTP listener on loopback: the envelope on the wire, batching, retries with
// backoff (the sleep injected, so no test waits for it), refusals, a listener that is down or hangs, and close.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sleep } from '../../../src/audit/audit-sink.js';
import { NotificationSink, type NotificationSettings } from '../../../src/audit/notification-sink.js';
import { parseRetryAfter } from '../../../src/audit/retry-after.js';
import { startNotificationListener, type ListenerMode, type NotificationListener } from '../../helpers/notification-listener.js';
import { captureLog, numberedEvent, sampleEvent, testCounters, until } from './audit-test-kit.js';

const listeners: NotificationListener[] = [];
const sinks: NotificationSink[] = [];

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close(1000)));
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

async function listener(mode?: ListenerMode): Promise<NotificationListener> {
  const started = await startNotificationListener(mode);
  listeners.push(started);
  return started;
}

const source = { addr: 'tender-0:5000', instanceID: '9b2f6c1e-5d4a-4e3b-8c7d-1a2b3c4d5e6f' };

/** Records every pause asked for; `realMs` of it is waited for real (0: none), and an abort ends it. */
function recordingSleep(realMs = 0): { sleep: Sleep; pauses: number[] } {
  const pauses: number[] = [];
  const sleep: Sleep = async (ms, signal) => {
    pauses.push(ms);
    if (realMs > 0 && !signal.aborted)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, realMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
  };
  return { sleep, pauses };
}

function makeSink(url: string, settings: Partial<NotificationSettings> = {}, sleep?: Sleep) {
  const counters = testCounters();
  const captured = captureLog();
  const sink = new NotificationSink(
    { url, source, batchDelayMs: 0, backoffInitialMs: 100, backoffMaxMs: 1000, ...settings },
    { counters, log: captured.log, random: () => 0.5, ...(sleep ? { sleep } : {}) },
  );
  sinks.push(sink);
  return { sink, counters, captured };
}

const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => numberedEvent(from + i).id);

describe('NotificationSink', () => {
  it('POSTs the fixture envelope with the notification media type and the configured headers', async () => {
    const l = await listener();
    const { sink, counters } = makeSink(l.url, {
      headers: { Authorization: 'Bearer s3cret', 'X-Team': 'platform' },
      source: { ...source, baseUrl: 'https://mirror.example:5000' },
    });
    sink.emit(sampleEvent);
    await sink.close(5000);
    expect(l.received).toHaveLength(1);
    const post = l.received[0]!;
    expect(post.method).toBe('POST');
    expect(post.path).toBe('/events');
    expect(post.headers['content-type']).toBe('application/vnd.docker.distribution.events.v2+json');
    expect(post.headers.authorization).toBe('Bearer s3cret');
    expect(post.headers['x-team']).toBe('platform');
    expect(post.body).toStrictEqual(JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'notification-envelope.json'), 'utf8')));
    expect(await counters.value('delivered', { sink: 'http' })).toBe(1);
  });

  it('sends up to batchSize events per envelope, in order, and waits batchDelayMs for a batch to fill', async () => {
    const l = await listener();
    const { sleep, pauses } = recordingSleep();
    const { sink } = makeSink(l.url, { batchSize: 10, batchDelayMs: 750 }, sleep);
    for (let n = 0; n < 25; n += 1) sink.emit(numberedEvent(n));
    await l.waitForAccepted(25);
    expect(l.received.map((p) => (p.body as { events: unknown[] }).events.length)).toEqual([10, 10, 5]);
    expect(l.accepted().map((e) => e.id)).toEqual(range(0, 25));
    expect(pauses).toEqual([750]); // only the last, partial batch waited
  });

  it('sends a lone event once batchDelayMs has passed', async () => {
    const l = await listener();
    const { sink } = makeSink(l.url, { batchSize: 100, batchDelayMs: 20 });
    sink.emit(numberedEvent(0));
    expect((await l.waitForAccepted(1)).map((e) => e.id)).toEqual(range(0, 1));
  });

  it('retries 5xx with doubling, jittered, capped pauses and delivers each event once', async () => {
    const l = await listener({ kind: 'fail', status: 500, times: 6 });
    const { sleep, pauses } = recordingSleep();
    const { sink, counters, captured } = makeSink(
      `${l.url}?token=q5ecret`,
      { backoffInitialMs: 100, backoffMaxMs: 400, headers: { Authorization: 'Bearer s3cret' } },
      sleep,
    );
    for (let n = 0; n < 3; n += 1) sink.emit(numberedEvent(n));
    await l.waitForAccepted(3);
    await until(() => sink.pending === 0, 'the delivery to be counted');
    // random() = 0.5 with equal jitter: 3/4 of the step; steps 100, 200, 400, then capped at 400.
    expect(pauses.filter((ms) => ms > 0)).toEqual([75, 150, 300, 300, 300, 300]);
    expect(l.received).toHaveLength(7);
    expect(l.accepted().map((e) => e.id)).toEqual(range(0, 3));
    expect(await counters.value('failedAttempts', { sink: 'http' })).toBe(6);
    expect(await counters.value('delivered', { sink: 'http' })).toBe(3);
    const errors = captured.lines().filter((line) => line.msg === 'cannot deliver audit events to the notification listener; retrying');
    expect(errors).toHaveLength(1); // once per interval, not once per attempt
    expect(errors[0]).toMatchObject({ url: l.url, status: 500 });
    expect(JSON.stringify(captured.lines())).not.toMatch(/s3cret|q5ecret/);
    expect(captured.lines().some((line) => line.msg === 'notification listener reachable again')).toBe(true);
  });

  it('gives jitter: the pause is between half and all of the step', async () => {
    const l = await listener({ kind: 'fail', status: 503, times: 2 });
    const { sleep, pauses } = recordingSleep();
    const counters = testCounters();
    const randoms = [0, 0.999];
    const sink = new NotificationSink(
      { url: l.url, source, batchDelayMs: 0, backoffInitialMs: 100, backoffMaxMs: 1000 },
      { counters, log: captureLog().log, sleep, random: () => randoms.shift() ?? 0 },
    );
    sinks.push(sink);
    sink.emit(numberedEvent(0));
    await l.waitForAccepted(1);
    expect(pauses[1]).toBe(50);
    expect(pauses[2]).toBeCloseTo(199.9, 5);
  });

  it('retries 408 and 429, honouring Retry-After up to backoffMaxMs', async () => {
    const l = await listener({ kind: 'fail', status: 429, times: 1, retryAfter: '7' });
    const { sleep, pauses } = recordingSleep();
    const { sink } = makeSink(l.url, { backoffMaxMs: 60_000 }, sleep);
    sink.emit(numberedEvent(0));
    await l.waitForAccepted(1);
    await l.setMode({ kind: 'fail', status: 408, times: 1, retryAfter: '3600' });
    sink.emit(numberedEvent(1));
    await l.waitForAccepted(2);
    expect(pauses.filter((ms) => ms > 0)).toEqual([7000, 60_000]);
  });

  it('does not retry a 4xx refusal or a redirect: the batch is dropped and counted, later batches go on', async () => {
    const l = await listener({ kind: 'fail', status: 400, times: 1 });
    const { sink, counters, captured } = makeSink(l.url, { batchSize: 2 });
    sink.emit(numberedEvent(0));
    sink.emit(numberedEvent(1));
    await until(async () => (await counters.value('dropped', { sink: 'http', reason: 'rejected' })) === 2, 'the refusal');
    await l.setMode({ kind: 'accept', status: 302 });
    sink.emit(numberedEvent(2));
    await until(async () => (await counters.value('dropped', { sink: 'http', reason: 'rejected' })) === 3, 'the redirect');
    await l.setMode({ kind: 'accept' });
    sink.emit(numberedEvent(3));
    await l.waitForAccepted(1);
    expect(l.received.map((p) => p.status)).toEqual([400, 302, 200]);
    expect(l.accepted().map((e) => e.id)).toEqual(range(3, 4));
    expect(await counters.value('failedAttempts', { sink: 'http' })).toBe(2);
    expect(captured.lines().filter((line) => line.msg === 'the notification listener refused audit events; they are dropped')).toHaveLength(1);
  });

  it('loses nothing while the listener is down until the queue is full, then drops the newest and counts them', async () => {
    const l = await listener({ kind: 'refuse' });
    const { sleep } = recordingSleep(2);
    const { sink, counters } = makeSink(l.url, { queueSize: 20, batchSize: 5 }, sleep);
    for (let n = 0; n < 20; n += 1) sink.emit(numberedEvent(n));
    await until(async () => (await counters.value('failedAttempts', { sink: 'http' })) >= 3, 'retries against the closed port');
    for (let n = 20; n < 30; n += 1) sink.emit(numberedEvent(n));
    expect(await counters.value('dropped', { sink: 'http', reason: 'queue-full' })).toBe(10);
    expect(sink.pending).toBe(20);
    await l.setMode({ kind: 'accept' });
    await l.waitForAccepted(20);
    await until(() => sink.pending === 0, 'the queue to drain');
    expect(l.accepted().map((e) => e.id)).toEqual(range(0, 20));
    expect(await counters.value('delivered', { sink: 'http' })).toBe(20);
  });

  it('gives up on a POST that gets no answer within timeoutMs and sends it again', async () => {
    const l = await listener({ kind: 'hang' });
    const { sink, counters } = makeSink(l.url, { timeoutMs: 200 }, recordingSleep().sleep);
    sink.emit(numberedEvent(0));
    await l.waitForReceived(2); // the second POST proves the first was abandoned
    await l.setMode({ kind: 'accept' });
    await l.waitForAccepted(1);
    expect(await counters.value('failedAttempts', { sink: 'http' })).toBeGreaterThanOrEqual(2);
    expect(l.accepted().map((e) => e.id)).toEqual(range(0, 1));
  });

  it('on close sends what is queued at once, without waiting for the batch delay', async () => {
    const l = await listener();
    const { sink, counters } = makeSink(l.url, { batchDelayMs: 3_600_000, batchSize: 100 });
    for (let n = 0; n < 3; n += 1) sink.emit(numberedEvent(n));
    await sink.close(10_000);
    expect(l.accepted().map((e) => e.id)).toEqual(range(0, 3));
    expect(await counters.value('delivered', { sink: 'http' })).toBe(3);
    sink.emit(numberedEvent(3));
    expect(await counters.value('dropped', { sink: 'http', reason: 'shutdown' })).toBe(1);
  });

  it('on close stops at its deadline when the listener is down, and counts what was not sent', async () => {
    const l = await listener({ kind: 'refuse' });
    const { sink, counters } = makeSink(l.url, { batchSize: 2 }, recordingSleep(5).sleep);
    for (let n = 0; n < 5; n += 1) sink.emit(numberedEvent(n));
    await sink.close(200);
    expect(sink.pending).toBe(0);
    expect(await counters.value('dropped', { sink: 'http', reason: 'shutdown' })).toBe(5);
    expect(await counters.value('delivered', { sink: 'http' })).toBe(0);
  });

  it('returns from emit before anything is sent', async () => {
    const l = await listener();
    const { sink } = makeSink(l.url);
    sink.emit(numberedEvent(0));
    expect(sink.pending).toBe(1);
    expect(l.received).toHaveLength(0);
    await sink.close(5000);
    expect(l.accepted()).toHaveLength(1);
  });

  it('refuses settings that would leak credentials or corrupt the request', () => {
    const deps = { counters: testCounters(), log: captureLog().log };
    const make = (settings: Partial<NotificationSettings>) => () => new NotificationSink({ url: 'http://127.0.0.1:1/', source, ...settings }, deps);
    expect(make({ url: 'https://user:pw@listener.example/' })).toThrow(/user:password/);
    expect(make({ url: 'ftp://listener.example/' })).toThrow(/http or https/);
    expect(make({ headers: { 'Content-Type': 'text/plain' } })).toThrow(/set by tender/);
    expect(make({ headers: { Authorization: 'Bearer x\r\nX-Injected: 1' } })).toThrow(/line break/);
    expect(make({ headers: { 'Bad Name': 'x' } })).toThrow(/header name/);
    expect(make({ batchSize: 0 })).toThrow(/batchSize/);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 2, 3, 4, 5);
  it.each([
    ['7', 7000],
    [' 0 ', 0],
    ['Thu, 02 Jan 2025 03:04:15 GMT', 10_000],
    ['Thu, 02 Jan 2025 03:04:00 GMT', 0],
    ['-5', undefined],
    ['1e3', undefined],
    ['soon', undefined],
    ['2025', 2_025_000],
    ['12:00', undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
