// Reading hostile bytes without surprises: strict base64 and size-capped JSON that never throw.

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly tooLarge: boolean; readonly problem: string };

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard padded base64 (RFC 4648 §4, what Go's base64.StdEncoding writes and accepts) or
 * says why not. Node's Buffer.from(…, 'base64') skips any character it does not know, which would turn
 * garbage into "some bytes" instead of an error worth logging.
 */
export function decodeBase64(text: string, maxChars: number): Parsed<Buffer> {
  if (text.length > maxChars) return { ok: false, tooLarge: true, problem: `${text.length} characters of base64, more than ${maxChars}` };
  if (!base64Pattern.test(text)) return { ok: false, tooLarge: false, problem: 'not standard padded base64' };
  return { ok: true, value: Buffer.from(text, 'base64') };
}

/** JSON.parse of at most `maxBytes` bytes of UTF-8. */
export function parseJson(bytes: Buffer, maxBytes: number): Parsed<unknown> {
  if (bytes.length > maxBytes) return { ok: false, tooLarge: true, problem: `${bytes.length} bytes, more than the ${maxBytes}-byte cap` };
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch (err) {
    return { ok: false, tooLarge: false, problem: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
}

/** A plain JSON object (not an array, not null), as the formats here require at every level. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Only the string-valued entries of an annotations object; anything else in it is ignored. */
export function stringEntries(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

const sha256Pattern = /^sha256:[a-f0-9]{64}$/;
const digestPattern = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigestString(value: unknown): value is string {
  return typeof value === 'string' && digestPattern.test(value);
}

export function isSha256Digest(value: unknown): value is string {
  return typeof value === 'string' && sha256Pattern.test(value);
}

/** A descriptor size: a non-negative safe integer. */
export function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Bounded echo of signer-controlled text in a message or log line. */
export function clip(text: string): string {
  return text.length > 140 ? `${text.slice(0, 140)}…` : text;
}
