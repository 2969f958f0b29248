// Repository patterns as operators write them: exact names, `*` within one path component, `**` across any.

export type RepositoryMatcher = (repository: string) => boolean;

/** Compiles patterns such as `library/*`, `bitnami/**` or `team/app` into one matcher. */
export function repositoryMatcher(patterns: readonly string[]): RepositoryMatcher {
  if (patterns.length === 0) return () => false;
  const compiled = patterns.map(compile);
  return (repository) => compiled.some((re) => re.test(repository));
}

function compile(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i += 1;
    } else if (ch === '*') {
      source += '[^/]*';
    } else {
      source += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}
