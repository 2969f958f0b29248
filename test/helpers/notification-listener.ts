// A notification listener on loopback, as an operator would run one behind distribution's `notifications:`:
// a real HTTP server that records every envelope POSTed to it and can be told to fail (5xx, 4xx, hang, refuse).
import { once, EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ListenerMode =
  /** Answers every POST with `status` (default 200). */
  | { readonly kind: 'accept'; readonly status?: number }
  /** Answers `status` (a 5xx, 408, 429, a 4xx...), `times` times if given (then accepts again), with Retry-After if given. */
  | { readonly kind: 'fail'; readonly status: number; readonly times?: number; readonly retryAfter?: string }
  /** Reads the request and never answers, until the mode changes or the listener closes. */
  | { readonly kind: 'hang' }
  /** Stops listening: connections to the port are refused until the mode changes (the same port is taken again). */
  | { readonly kind: 'refuse' };

export interface ReceivedPost {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  readonly body: unknown;
  /** What the listener answered; undefined while it hangs. */
  status: number | undefined;
}

/** One event as it arrived, JSON as sent. */
export type ReceivedEvent = Record<string, unknown> & { readonly id: string };

export interface NotificationListener {
  readonly url: string;
  /** Every request that reached the listener, answered or not, in arrival order. */
  readonly received: readonly ReceivedPost[];
  /** The events of every envelope answered 2xx, in arrival order. */
  accepted(): ReceivedEvent[];
  setMode(mode: ListenerMode): Promise<void>;
  /** Resolves once `count` events were accepted in all; rejects after `timeoutMs`. */
  waitForAccepted(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  /** Resolves once `count` requests arrived in all (answered or not); rejects after `timeoutMs`. */
  waitForReceived(count: number, timeoutMs?: number): Promise<readonly ReceivedPost[]>;
  close(): Promise<void>;
}

/** Bodies larger than this are cut off (a test listener, but still bounded). */
const maxBody = 16 * 1024 * 1024;

export async function startNotificationListener(initial: ListenerMode = { kind: 'accept' }): Promise<NotificationListener> {
  let mode: ListenerMode = initial;
  let failuresLeft = initial.kind === 'fail' ? (initial.times ?? Number.POSITIVE_INFINITY) : 0;
  const received: ReceivedPost[] = [];
  const changes = new EventEmitter();
  const hanging = new Set<() => void>();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Recorded as text: a test can assert the sink sent JSON.
      }
      const post: ReceivedPost = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, status: undefined };
      received.push(post);
      const answer = (status: number, headers: Record<string, string> = {}): void => {
        post.status = status;
        res.writeHead(status, headers).end();
        changes.emit('change');
      };
      if (mode.kind === 'hang') {
        hanging.add(() => res.destroy());
        changes.emit('change');
      } else if (mode.kind === 'fail' && failuresLeft > 0) {
        failuresLeft -= 1;
        answer(mode.status, mode.retryAfter === undefined ? {} : { 'retry-after': mode.retryAfter });
      } else {
        answer(mode.kind === 'accept' ? (mode.status ?? 200) : 200);
      }
    });
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let listening = true;

  const stopListening = async (): Promise<void> => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };

  if (initial.kind === 'refuse') await stopListening();

  const accepted = (): ReceivedEvent[] =>
    received
      .filter((p) => p.status !== undefined && p.status >= 200 && p.status < 300)
      .flatMap((p) => (p.body as { events?: ReceivedEvent[] } | undefined)?.events ?? []);

  const waitUntil = async <T>(ready: () => T | undefined, what: string, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`notification listener: timed out waiting for ${what} (received ${received.length} requests)`);
      await Promise.race([once(changes, 'change'), new Promise((resolve) => setTimeout(resolve, Math.min(left, 200)))]);
    }
  };

  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    accepted,
    async setMode(next) {
      mode = next;
      failuresLeft = next.kind === 'fail' ? (next.times ?? Number.POSITIVE_INFINITY) : 0;
      if (next.kind !== 'hang') {
        for (const end of hanging) end();
        hanging.clear();
      }
      if (next.kind === 'refuse') {
        await stopListening();
      } else if (!listening) {
        server.listen(port, '127.0.0.1');
        await once(server, 'listening');
        listening = true;
      }
    },
    waitForAccepted: (count, timeoutMs = 10_000) =>
      waitUntil(() => (accepted().length >= count ? accepted() : undefined), `${count} accepted events`, timeoutMs),
    waitForReceived: (count, timeoutMs = 10_000) => waitUntil(() => (received.length >= count ? received : undefined), `${count} requests`, timeoutMs),
    async close() {
      for (const end of hanging) end();
      hanging.clear();
      await stopListening();
    },
  };
}
