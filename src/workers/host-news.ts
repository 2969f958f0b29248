// CacheNews over the primary: commits and evictions to every other worker, reads (batched) to the eviction owner.
import type { CacheNews, CacheNewsHandlers } from '../cache/cache-news.js';
import type { WorkerLink } from './worker-link.js';

/** Reads are sent to the owner at most this often: recency for eviction needs no more. */
const touchBatchMs = 1000;
/** A batch never grows past this many digests (a busy host with a huge working set). */
const touchBatchMax = 10_000;

export class HostNews implements CacheNews {
  private touches = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly link: WorkerLink) {}

  committed(digest: string, size: number): void {
    this.link.tell({ kind: 'committed', digest, size });
  }

  evicted(digests: readonly string[]): void {
    this.link.tell({ kind: 'evicted', digests });
  }

  touched(digest: string): void {
    if (this.link.owner || this.touches.size >= touchBatchMax) return;
    this.touches.add(digest);
    this.timer ??= setTimeout(() => this.flush(), touchBatchMs).unref();
  }

  isEvictionOwner(): boolean {
    return this.link.owner;
  }

  listen(handlers: CacheNewsHandlers): void {
    this.link.onNews((news) => {
      if (news.kind === 'committed') handlers.committed(news.digest, news.size);
      else if (news.kind === 'evicted') handlers.evicted(news.digests);
      else if (news.kind === 'touched') handlers.touched(news.digests);
    });
    this.link.onOwner(() => handlers.owner());
  }

  private flush(): void {
    this.timer = undefined;
    if (this.touches.size === 0) return;
    const digests = [...this.touches];
    this.touches = new Set();
    this.link.tell({ kind: 'touched', digests });
  }
}
