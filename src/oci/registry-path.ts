// Parses a /v2/ request path into what is asked for; names stay unrouted (routing is the router's job).
import { OciError } from './errors.js';
import { maxNameLength } from './names.js';

export type RegistryPath =
  | { kind: 'base' }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string }
  | { kind: 'upload'; name: string };

export type RegistryPathKind = RegistryPath['kind'];

// Room for a host prefix in front of a full-length name, plus the longest suffix.
const maxPathLength = 2048;

/**
 * `pathname` must be the raw, undecoded path. Percent-encoding is refused outright: no valid name,
 * tag or digest contains "%", and decoding is how "%2F" and "%2e%2e" smuggle separators in.
 */
export function parseRegistryPath(pathname: string): RegistryPath | undefined {
  if (pathname.length > maxPathLength) throw new OciError('NAME_INVALID', `path longer than ${maxPathLength} characters`);
  if (pathname === '/v2' || pathname === '/v2/') return { kind: 'base' };
  if (!pathname.startsWith('/v2/')) return undefined;
  if (/[%\0\\]/.test(pathname)) throw new OciError('NAME_INVALID', 'percent-encoded, NUL or backslash characters are not allowed in registry paths');
  // The spec's upload path ends in "/" (POST /v2/<name>/blobs/uploads/); no other path does.
  const rest = pathname.endsWith('/') ? pathname.slice(4, -1) : pathname.slice(4);
  const segments = rest.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new OciError('NAME_INVALID', 'empty, "." or ".." path segments are not allowed');
  }
  const n = segments.length;
  const name = (end: number): string => {
    const joined = segments.slice(0, end).join('/');
    if (joined.length === 0) throw new OciError('NAME_INVALID', 'missing repository name');
    if (joined.length > maxNameLength + 256) throw new OciError('NAME_INVALID', 'repository name too long');
    return joined;
  };
  // Longest suffixes first: "tags/list" and "blobs/uploads" end with fixed words.
  if (n >= 3 && segments[n - 2] === 'tags' && segments[n - 1] === 'list') return { kind: 'tags', name: name(n - 2) };
  // Uploads are .../blobs/uploads/ or .../blobs/uploads/<id>; a repository may itself be named "blobs/uploads".
  for (const uploads of [n - 1, n - 2]) {
    if (uploads >= 2 && segments[uploads] === 'uploads' && segments[uploads - 1] === 'blobs') return { kind: 'upload', name: name(uploads - 1) };
  }
  if (n >= 3) {
    const kind = segments[n - 2];
    const last = segments[n - 1] as string;
    if (kind === 'manifests') return { kind: 'manifest', name: name(n - 2), reference: last };
    if (kind === 'blobs') return { kind: 'blob', name: name(n - 2), digest: last };
    if (kind === 'referrers') return { kind: 'referrers', name: name(n - 2), digest: last };
  }
  return undefined;
}
