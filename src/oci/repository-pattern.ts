// Repository patterns as operators write them: exact names, `*` within one path component, `**` across any.

export type RepositoryMatcher = (repository: string) => boolean;

/** Compiles patterns such as `library/*`, `bitnami/**` or `team/app` into one matcher. */
export function repositoryMatcher(patterns: readonly string[]): RepositoryMatcher {
  if (patterns.length === 0) return () => false;
  const compiled = patterns.map(compile);
  return (repository) => compiled.some((re) => re.test(repository));
}

/** Like repositoryMatcher, but names the first pattern that matched (for messages that cite the rule). */
export function firstMatch(patterns: readonly string[]): (repository: string) => string | undefined {
  const compiled = patterns.map((pattern) => ({ pattern, re: compile(pattern) }));
  return (repository) => compiled.find(({ re }) => re.test(repository))?.pattern;
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
