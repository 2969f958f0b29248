// Parsers for the human units config accepts: durations ("30s", "5m"), sizes ("64MiB", "50GiB") and listen addresses.

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Milliseconds from "250ms", "30s", "5m", "1h", "2d" or a bare number of seconds; undefined if unreadable. */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input * 1000 : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(input);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * durationUnits[(match[2] ?? 's').toLowerCase()]!);
}

/** Bytes from "512MiB", "50GiB", "10GB" or a bare number of bytes; undefined if unreadable. */
export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(input);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * sizeUnits[(match[2] ?? 'b').toLowerCase()]!);
}

/** An address to listen on from "host:port", ":port", "[::1]:port" or a port number; undefined if unreadable. */
export function parseListen(value: string | number): { host: string; port: number } | undefined {
  const text = String(value);
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = match[1] ? match[1].replace(/^\[|\]$/g, '') : '0.0.0.0';
  return { host, port };
}
