// Turns OciErrors into spec-shaped responses, in one place; anything else becomes a logged 500 UNKNOWN.
import { OciError, isOciError } from '../oci/errors.js';

export function errorResponse(err: unknown, extraHeaders: Record<string, string> = {}): { error: OciError; response: Response } {
  const error = isOciError(err) ? err : new OciError('UNKNOWN', 'internal error', { cause: err });
  const response = new Response(error.toBody(), {
    status: error.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...error.headers, ...extraHeaders },
  });
  return { error, response };
}
