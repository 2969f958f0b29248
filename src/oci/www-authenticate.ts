// Parses registry auth challenges (`WWW-Authenticate: Bearer realm="…",service="…",scope="…"`).

export interface Challenge {
  readonly scheme: 'bearer' | 'basic' | string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses the first challenge of a WWW-Authenticate header; parameter names are lower-cased. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  const params: Record<string, string> = {};
  const paramPattern = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const text = match[2] ?? '';
  paramPattern.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (paramPattern.lastIndex < text.length && (m = paramPattern.exec(text)) !== null) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return { scheme, params };
}

/** The token scope for pulling from a repository (distribution "Token Scope Documentation"). */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}
