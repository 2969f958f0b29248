// `Link` headers (RFC 8288) as registries use them for pagination: `<target>; rel="next"`, possibly several.

export interface LinkEntry {
  /** The URI reference between < and >, as sent. */
  readonly target: string;
  /** The `rel` parameter, lower-cased, when present. */
  readonly rel: string | undefined;
}

/**
 * Every entry of a Link header; an entry that does not parse ends the list (what follows it cannot be
 * told apart from its parameters). Commas inside <...> and quoted strings do not split entries.
 */
export function parseLinkHeader(value: string): LinkEntry[] {
  const entries: LinkEntry[] = [];
  let at = 0;
  const skip = (): void => {
    while (at < value.length && (value[at] === ' ' || value[at] === '\t')) at++;
  };
  while (at < value.length) {
    skip();
    if (value[at] === ',') {
      at++;
      continue;
    }
    if (value[at] !== '<') break;
    const close = value.indexOf('>', at + 1);
    if (close === -1) break;
    const target = value.slice(at + 1, close);
    at = close + 1;
    let rel: string | undefined;
    // Parameters: ; name=token | ; name="quoted" | ; name
    for (;;) {
      skip();
      if (value[at] !== ';') break;
      at++;
      skip();
      const name = /^[A-Za-z0-9!#$&+.^_`|~*-]+/.exec(value.slice(at))?.[0];
      if (!name) break;
      at += name.length;
      skip();
      let parameter = '';
      if (value[at] === '=') {
        at++;
        skip();
        if (value[at] === '"') {
          at++;
          while (at < value.length && value[at] !== '"') {
            if (value[at] === '\\') at++;
            parameter += value[at] ?? '';
            at++;
          }
          at++;
        } else {
          const token = /^[^\s;,]*/.exec(value.slice(at))?.[0] ?? '';
          parameter = token;
          at += token.length;
        }
      }
      if (name.toLowerCase() === 'rel' && rel === undefined) rel = parameter.toLowerCase();
    }
    entries.push({ target, rel });
    skip();
    if (at < value.length && value[at] !== ',') break;
  }
  return entries;
}

/** Writes entries back as one header value; only `rel` is carried (the one parameter registries use). */
export function formatLinkHeader(entries: readonly LinkEntry[]): string {
  return entries.map((e) => `<${e.target}>${e.rel === undefined ? '' : `; rel="${e.rel.replace(/["\\]/g, '')}"`}`).join(', ');
}
