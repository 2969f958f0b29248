// The bounded walk of an upstream's Link pages: follows rel="next" only, stops at a link seen before, and
// ends an endless or slow walk with an error instead of reading for ever.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { UpstreamPassthrough } from '../../../src/cache/ports.js';
import { readPages } from '../../../src/cache/upstream-pages.js';

const limits = { maxBytes: 1024 * 1024, maxPages: 50 };
const answer = (body: string, link?: string): UpstreamPassthrough => ({ status: 200, headers: link ? { link } : {}, body: Buffer.from(body) });

describe('readPages', () => {
  it('follows rel="next" (not first, prev or other relations) until a page has none', async () => {
    const asked: string[] = [];
    const pages: Record<string, UpstreamPassthrough> = {
      '': answer('1', '<?p=0>; rel="first", <?p=2>; rel="next"'),
      '?p=2': answer('2', '<?p=3>; rel="prev next"'),
      '?p=3': answer('3', '<?p=9>; rel="last"'),
    };
    const bodies: string[] = [];
    await readPages(
      async (query) => (asked.push(query), pages[query]!),
      limits,
      1_000,
      'the list',
      (page) => bodies.push(page.body.toString()),
    );
    expect(asked).toEqual(['', '?p=2', '?p=3']);
    expect(bodies).toEqual(['1', '2', '3']);
  });

  it('ignores a next link that names no query of the same list (the upstream client reduced it to "?")', async () => {
    let asked = 0;
    await readPages(
      async () => (asked++, answer('x', '<?>; rel="next"')),
      limits,
      1_000,
      'the list',
      () => undefined,
    );
    expect(asked).toBe(1);
  });

  it('ends a walk whose every page is slow at twice one request deadline, as an upstream failure', async () => {
    let asked = 0;
    const slow = async (query: string, signal: AbortSignal): Promise<UpstreamPassthrough> => {
      asked++;
      // Each page takes most of a request's deadline, and links to a new page for ever.
      await sleep(30, undefined, { signal });
      return answer('x', `<?p=${asked}${query.length}>; rel="next"`);
    };
    await expect(readPages(slow, limits, 40, 'the slow list', () => undefined)).rejects.toMatchObject({ name: 'AbortError' });
    expect(asked).toBeLessThan(limits.maxPages);
  });
});
