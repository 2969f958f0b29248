// Tags upstream just answered 404 for, remembered for a short while (missingTagTtl): containerd retries a
// failed resolve, and a crash-looping Pod with a typo in its image asks again every back-off step; without
// this each of those is one upstream request (and on Docker Hub, one against the anonymous rate limit).
import { LRUCache } from 'lru-cache';
import { OciError, type OciErrorCode } from '../oci/errors.js';
import { cacheStatus, registryHeaders } from '../oci/registry-headers.js';

interface Missing {
  readonly code: OciErrorCode;
  readonly message: string;
  /** Epoch ms on the tags' clock. */
  readonly until: number;
}

/** The upstream answers that mean "no such tag (or repository)": the only ones remembered. */
export function isMissing(err: unknown): err is OciError {
  return err instanceof OciError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN');
}

export class MissingTags {
  /** Bounded: a client walking random tags cannot grow it; an entry pushed out is only asked about again. */
  private readonly missing = new LRUCache<string, Missing>({ max: 10_000 });

  /** `ttlMs` 0 turns the memory off. */
  constructor(
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {}

  remember(key: string, err: OciError): void {
    if (this.ttlMs <= 0) return;
    this.missing.set(key, { code: err.code, message: err.message, until: this.clock() + this.ttlMs });
  }

  /** The 404 to answer without asking upstream, while it is remembered. */
  recall(key: string): OciError | undefined {
    if (this.ttlMs <= 0) return undefined;
    const missing = this.missing.get(key);
    if (!missing) return undefined;
    if (missing.until <= this.clock()) {
      this.missing.delete(key);
      return undefined;
    }
    return new OciError(missing.code, missing.message, { headers: { [registryHeaders.cacheStatus]: cacheStatus.missing } });
  }

  /** The tag exists after all (a record was written for it: an import, a seed, another client's success). */
  forget(key: string): void {
    this.missing.delete(key);
  }
}
