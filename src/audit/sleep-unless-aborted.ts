// The default Sleep of the audit adapters: a timer that an abort ends early instead of rejecting.
import { setTimeout as delay } from 'node:timers/promises';

export async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // Aborted: the caller checks its own signal.
  }
}
