// Configuration problems: every one at once, each naming where the value came from and what was expected, no secret shown.
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Hides user:password in a URL-looking value. */
export function redactUrl(value: string): string {
  // Up to the last "@": a password may itself contain "@" or "/".
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)\S*@/i, '$1[redacted]@');
}

/**
 * One line for a schema issue: where the value came from (`TENDER_TAG_TTL (tagTtl)`, `--tag-ttl
 * (tagTtl)`, or the YAML key), what was expected and the value given, unless it is a secret or a
 * list or map (which could hold one).
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  settings: Record<string, unknown>,
  sourceOf: (path: readonly PropertyKey[]) => string,
  isSecret: (path: readonly PropertyKey[]) => boolean,
): string {
  const value = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], settings);
  const hidden = value === undefined || typeof value === 'object' || isSecret(issue.path);
  const shown = hidden ? '' : `, got ${JSON.stringify(typeof value === 'string' ? redactUrl(value) : value)}`;
  return `${sourceOf(issue.path)}: ${issue.message}${shown}`;
}
