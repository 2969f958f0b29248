// The TrustedKeys port: each signature policy's public keys as they are now (the key files adapter re-reads them when they change).
import { createHash } from 'node:crypto';
import type { TrustedKey } from '../trust/public-key.js';

export interface KeySet {
  readonly keys: readonly TrustedKey[];
  /**
   * Names this exact set of keys (sha256 over the sorted key ids): verdicts are cached under it, so a key
   * rotated or removed invalidates every verdict it produced, and a set that comes back finds them again.
   */
  readonly fingerprint: string;
}

export interface TrustedKeys {
  /** The keys of the named policy now; an empty set (every signature refused) when none of its files holds a key. Never throws. */
  keysOf(policy: string): KeySet;
}

export function keySet(keys: readonly TrustedKey[]): KeySet {
  const ids = [...new Set(keys.map((k) => k.id))].sort();
  return { keys, fingerprint: createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 32) };
}
