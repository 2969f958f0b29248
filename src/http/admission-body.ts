// Reading an admission review body: JSON only, bounded before it is parsed, and refusals in the shape the API server reads.

/**
 * A review tender refuses to read (4xx). Answered as a Kubernetes `Status`, not an OCI error body: the caller is the
 * API server, whose REST client turns a non-2xx `Status` with `status: Failure` into the error it reports
 * ("failed calling webhook ...: <message>"), where any other body becomes "an error on the server ... has prevented
 * the request from succeeding" (client-go rest.Result.Error).
 */
export class ReviewInputError extends Error {
  readonly status: 400 | 401 | 405 | 413 | 415;
  constructor(status: 400 | 401 | 405 | 413 | 415, message: string) {
    super(message);
    this.name = 'ReviewInputError';
    this.status = status;
  }
}

const reasons = { 400: 'BadRequest', 401: 'Unauthorized', 405: 'MethodNotAllowed', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType' } as const;

/** A `meta.k8s.io/v1` Status for a refused review. */
export function statusBody(error: ReviewInputError): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: error.message, reason: reasons[error.status], code: error.status };
}

/**
 * The body as parsed JSON, read at most `maxBytes` (a declared Content-Length over it is refused before reading).
 * The API server sends `Content-Type: application/json`; anything else is not a review.
 */
export async function readReviewJson(request: Request, maxBytes: number): Promise<unknown> {
  const type = request.headers.get('content-type');
  const mediaType = type?.split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new ReviewInputError(415, `expected Content-Type application/json, got ${type === null ? 'none' : JSON.stringify(type.slice(0, 100))}`);
  }
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    throw new ReviewInputError(413, `review of ${declared} bytes is over the ${maxBytes}-byte limit`);
  }
  const bytes = await readBounded(request, maxBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ReviewInputError(400, 'review body is not UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ReviewInputError(400, `review body is not JSON: ${(err as Error).message.slice(0, 200)}`);
  }
}

async function readBounded(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw new ReviewInputError(413, `review body is over the ${maxBytes}-byte limit`);
      chunks.push(value);
    }
  } finally {
    // On refusal, stop the transfer rather than drain it.
    if (total > maxBytes) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
