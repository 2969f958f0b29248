// A worker's end of the IPC channel to the primary: calls that expect a reply, news both ways, and the
// primary's orders (eviction ownership, stop).
import type { Call, LockScope, News, PrimaryMessage, WorkerMessage } from './messages.js';
import { isTenderMessage } from './messages.js';

/** What the link needs of the worker's process object (process in a cluster worker; a fake in tests). */
export interface Channel {
  send(message: WorkerMessage): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  readonly connected: boolean;
}

/** A call the primary does not answer in this time fails (the primary is gone or stuck): callers degrade. */
const callTimeoutMs = 10_000;

export class WorkerLink {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private readonly newsHandlers: Array<(news: News) => void> = [];
  private readonly ownerHandlers: Array<() => void> = [];
  private readonly stopHandlers: Array<() => void> = [];
  private metricsSource: (() => Promise<unknown>) | undefined;
  /** Waiters on a lease (`<scope>\n<key>`), told when the primary says it changed. */
  private readonly leaseWatchers = new Map<string, Set<() => void>>();
  /** Whether this worker owns eviction for the host. */
  owner = false;

  constructor(
    /** The cluster's worker id: unique on this host for the primary's lifetime (temp files carry it). */
    readonly id: number,
    private readonly channel: Channel,
  ) {
    channel.on('message', (message) => this.receive(message));
  }

  call(call: Call): Promise<unknown> {
    if (!this.channel.connected) return Promise.reject(new Error('the primary process is gone'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the primary process did not answer ${call.op} within ${callTimeoutMs} ms`));
      }, callTimeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      this.send({ tender: 'call', id, call });
    });
  }

  tell(news: News): void {
    this.send({ tender: 'news', news });
  }

  ready(): void {
    this.send({ tender: 'ready' });
  }

  onNews(handler: (news: News) => void): void {
    this.newsHandlers.push(handler);
  }

  onOwner(handler: () => void): void {
    this.ownerHandlers.push(handler);
    if (this.owner) handler();
  }

  onStop(handler: () => void): void {
    this.stopHandlers.push(handler);
  }

  /** What this worker answers when the primary collects the host's metrics. */
  answerMetrics(source: () => Promise<unknown>): void {
    this.metricsSource = source;
  }

  /** Calls `changed` whenever the primary says the lease changed, until the returned function is called. */
  watchLease(scope: LockScope, key: string, changed: () => void): () => void {
    const id = `${scope}\n${key}`;
    let watchers = this.leaseWatchers.get(id);
    if (!watchers) this.leaseWatchers.set(id, (watchers = new Set()));
    const own = watchers;
    const entry = (): void => changed(); // its own identity: the same function may watch twice
    own.add(entry);
    return () => {
      own.delete(entry);
      if (own.size === 0 && this.leaseWatchers.get(id) === own) this.leaseWatchers.delete(id);
    };
  }

  private send(message: WorkerMessage): void {
    // A channel closing under a send is the primary going away: the worker exits on 'disconnect' anyway.
    if (this.channel.connected) {
      try {
        this.channel.send(message);
      } catch {
        // see above
      }
    }
  }

  private receive(raw: unknown): void {
    if (!isTenderMessage(raw)) return;
    const message = raw as PrimaryMessage;
    switch (message.tender) {
      case 'reply': {
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.error !== undefined) pending.reject(new Error(message.error));
        else pending.resolve(message.value);
        return;
      }
      case 'news':
        if (message.news.kind === 'lease') {
          for (const changed of this.leaseWatchers.get(`${message.news.scope}\n${message.news.key}`) ?? []) changed();
          return;
        }
        for (const handler of this.newsHandlers) handler(message.news);
        return;
      case 'owner':
        this.owner = true;
        for (const handler of this.ownerHandlers) handler();
        return;
      case 'stop':
        for (const handler of this.stopHandlers) handler();
        return;
      case 'metrics': {
        const id = message.id;
        if (!this.metricsSource) return this.send({ tender: 'metrics', id, error: 'metrics are not ready yet' });
        this.metricsSource().then(
          (value) => this.send({ tender: 'metrics', id, value }),
          (err: unknown) => this.send({ tender: 'metrics', id, error: String(err) }),
        );
        return;
      }
    }
  }
}
