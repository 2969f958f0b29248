// Writes a Node stream straight to the socket: no web-stream conversion on the hot path, no compression.
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

/**
 * If the body fails midway (a flight cut off on digest mismatch), the socket is destroyed so the
 * client sees a short body rather than a clean end.
 */
export function streamResponse(outgoing: ServerResponse, status: number, headers: Record<string, string | number>, body: Readable): Promise<void> {
  outgoing.writeHead(status, headers);
  return pipeline(body, outgoing).catch(() => {
    body.destroy();
    outgoing.destroy();
  });
}
