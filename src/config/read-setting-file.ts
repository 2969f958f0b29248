// Files a setting names (password files, CA bundles, htpasswd, lists), read once at start.
import { readFileSync } from 'node:fs';

/** The file's text, trimmed; undefined (and a problem naming the key) when it cannot be read. */
export function readSettingFile(path: string | undefined, key: string, problems: string[]): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    problems.push(`${key}: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
}
