// Writes registry answers and OCI errors straight to Node's response: one writeHead and one end, no Response objects.
import type { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { OciError, isOciError } from '../oci/errors.js';

/**
 * What a handler returns once it has written its answer itself. Handlers return it, nothing more:
 * app.ts's fetch adapter is what tells @hono/node-server to leave a written response alone.
 */
export const sent: Response = RESPONSE_ALREADY_SENT;

/**
 * Status, headers and a small body in one write. A HEAD request gets the same head: Node writes no
 * body for HEAD whatever `end` is given, and handlers never fetch one for it.
 */
export function reply(outgoing: ServerResponse, status: number, headers: Record<string, string>, body?: Buffer | string): Response {
  outgoing.writeHead(status, headers).end(body);
  return sent;
}

/**
 * The spec's error body (`{"errors":[{code,message,detail}]}`) with the code's status from the one
 * table in oci/errors.ts; anything that is no OciError becomes 500 UNKNOWN, whose message names no
 * internals. After the head went out (a stream that failed), the response can only be cut short.
 */
export function replyError(outgoing: ServerResponse, err: unknown, headers: Record<string, string>): OciError {
  const error = isOciError(err) ? err : new OciError('UNKNOWN', 'internal error', { cause: err });
  if (outgoing.headersSent) {
    outgoing.destroy();
    return error;
  }
  const body = error.toBody();
  outgoing
    .writeHead(error.status, {
      ...headers,
      ...error.headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
    })
    .end(body);
  return error;
}
