// How long an upstream blob body may be: the size tender knows for the digest, else the maxBlobSize ceiling.
// An upstream (or a proxy or CDN in between) that lies about a length or never ends a body must not
// stream unverified bytes to clients or fill the disk until the flight's deadline.
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';

/** What bounds a download: the size known for the digest (a manifest's descriptor, a HEAD) and a ceiling. */
export interface FlightLimits {
  readonly expectedSize?: number | undefined;
  /** The largest body accepted at all (maxBlobSize); applies when neither upstream nor tender knows the size. */
  readonly maxBytes: number;
}

/** An upstream body whose length is refused: announced wrong, or running past what it may be. Answered 502. */
export class UpstreamLengthError extends OciError {
  constructor(message: string) {
    super('UPSTREAM_ERROR', message);
  }
}

/**
 * The size a download is held to, decided before any byte reaches a client: a Content-Length that
 * disagrees with the size a manifest (or a HEAD) gave, or that is over the ceiling, is refused outright
 * (the body is destroyed).
 */
export function checkedLength(digest: Digest, response: { size: number | undefined; body: Readable }, limits: FlightLimits): number | undefined {
  const { expectedSize, maxBytes } = limits;
  const announced = response.size;
  let refusal: string | undefined;
  if (announced !== undefined && expectedSize !== undefined && announced !== expectedSize) {
    refusal = `upstream announced ${announced} bytes for ${digest.value}, which is ${expectedSize} bytes`;
  } else if ((announced ?? expectedSize ?? 0) > maxBytes) {
    refusal = `upstream announced ${announced ?? expectedSize} bytes for ${digest.value}, over the ${maxBytes}-byte limit (maxBlobSize)`;
  }
  if (refusal === undefined) return announced ?? expectedSize;
  response.body.destroy();
  throw new UpstreamLengthError(refusal);
}

/** Cuts a body of unknown length at once when it passes the ceiling, before the chunk is published. */
export function checkCeiling(digest: Digest, written: number, body: Readable, limits: FlightLimits): void {
  if (written <= limits.maxBytes) return;
  body.destroy();
  throw new UpstreamLengthError(`upstream sent more than ${limits.maxBytes} bytes (maxBlobSize) for ${digest.value} without a length`);
}
