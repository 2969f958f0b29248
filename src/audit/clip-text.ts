// Free text from a request (user agent, Host, identity) cut to a known length before it is queued, so a queue
// bounded by events is also bounded in bytes whatever a client sends (Node admits 16 KiB of headers).

/** Longest user agent kept: Docker's own, with its UpstreamClient suffix, is about 200 characters. */
export const maxUserAgent = 512;
/** Longest Host, address, identity or request id kept. */
export const maxShortText = 256;

export function clipText(value: string, max: number): string {
  return value.length <= max ? value : value.slice(0, max);
}
