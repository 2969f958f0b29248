// When to try an upstream request again, and how long to wait: connection trouble and 5xx/429 are retried
// with jittered backoff, Retry-After honoured up to a bound.
import { errors as undiciErrors } from 'undici';

/**
 * The longest tender waits, in total, on retries of one request (Retry-After included). An upstream
 * that asks for more is answered at once: the client gets the 429 and its Retry-After, which
 * containerd honours itself, rather than a request held open until its deadline cuts it off.
 */
export const maxBackoffMs = 10_000;

/** Errors that mean the upstream did not answer (in time, or at all), as opposed to answering nonsense. */
export function isOutage(err: unknown): boolean {
  if (isRetryableError(err)) return true;
  const name = (err as { name?: unknown }).name;
  const code = (err as { code?: unknown }).code;
  return (
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.RequestAbortedError ||
    err instanceof undiciErrors.ClientDestroyedError ||
    err instanceof undiciErrors.ClientClosedError ||
    name === 'AbortError' ||
    name === 'TimeoutError' ||
    code === 'ECONNABORTED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH'
  );
}

export function isRetryableError(err: unknown): boolean {
  if (err instanceof undiciErrors.RequestAbortedError) return false;
  const code = (err as { code?: string }).code;
  return (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.SocketError ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'EAI_AGAIN' ||
    code === 'ENOTFOUND'
  );
}

/**
 * Exponential backoff with jitter; Retry-After (seconds or HTTP date) wins when upstream sends it, and
 * undefined means upstream asked for a longer wait than tender ever makes (the answer is passed on).
 */
export function backoff(attempt: number, retryAfter: string | undefined, now = Date.now()): number | undefined {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - now;
    if (Number.isFinite(ms) && ms >= 0) return ms <= maxBackoffMs ? ms : undefined;
  }
  const base = Math.min(maxBackoffMs, 200 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}
