// A plain HTTP client for tests: exact status, headers and body bytes (no decompression, no redirects).
import { request } from 'undici';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export async function http(
  url: string,
  init: { method?: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE' | 'PATCH'; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const response = await request(url, { method: init.method ?? 'GET', headers: init.headers ?? {} });
  const body = Buffer.from(await response.body.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return { status: response.statusCode, headers, body };
}

/** The Accept list containerd sends when resolving a tag. */
export const containerdAccept = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  '*/*',
].join(', ');
