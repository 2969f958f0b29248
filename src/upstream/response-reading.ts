// Reading an upstream's answer: headers, the media type, a length, and bodies held in memory under a cap.
import type { Dispatcher } from 'undici';
import { OciError } from '../oci/errors.js';

export type Response = Dispatcher.ResponseData;

export function header(response: Response, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** The Content-Type without parameters. */
export function mediaTypeOf(response: Response): string | undefined {
  return header(response, 'content-type')?.split(';')[0]?.trim() || undefined;
}

export function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

export function contentLength(response: Response): number | undefined {
  const value = header(response, 'content-length');
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Reads a body that is held in memory; over the cap it is the upstream's fault (502), never the client's. */
export async function readCapped(response: Response, cap: number, what: string): Promise<Buffer> {
  const announced = contentLength(response);
  if (announced !== undefined && announced > cap) {
    response.body.destroy();
    throw new OciError('UPSTREAM_ERROR', `upstream ${what} is ${announced} bytes, over the ${cap}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > cap) {
      response.body.destroy();
      throw new OciError('UPSTREAM_ERROR', `upstream ${what} is over the ${cap}-byte limit`);
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, total);
  if (announced !== undefined && announced !== total) {
    throw new OciError('UPSTREAM_ERROR', `${what}: upstream announced ${announced} bytes and sent ${total}`);
  }
  return body;
}
