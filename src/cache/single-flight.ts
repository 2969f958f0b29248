// Collapses concurrent calls with the same key into one; the result is shared, never cached afterwards.

export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  /** Runs `work` unless a call for `key` is running already, in which case its promise is shared. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing) return existing;
    // Started inside an async function so a synchronous throw becomes a rejection like any other.
    const promise = (async () => work())().finally(() => this.running.delete(key));
    // Callers may stop waiting (stale-if-error); the shared promise must never become an unhandled rejection.
    promise.catch(() => undefined);
    this.running.set(key, promise);
    return promise;
  }

  get size(): number {
    return this.running.size;
  }
}
