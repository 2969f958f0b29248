// Link header entries (RFC 8288) as registries send them for pagination.
import { describe, expect, it } from 'vitest';
import { formatLinkHeader, parseLinkHeader } from '../../../src/oci/link-header.js';

describe('parseLinkHeader', () => {
  it('reads one entry with its rel', () => {
    expect(parseLinkHeader('</v2/a/tags/list?n=2&last=b>; rel="next"')).toEqual([{ target: '/v2/a/tags/list?n=2&last=b', rel: 'next' }]);
  });

  it('reads every entry, with commas inside targets and quoted parameters', () => {
    expect(parseLinkHeader('</x?a=1,2>; rel="next"; title="a, b", <http://evil.example/y>; rel=next, </z>')).toEqual([
      { target: '/x?a=1,2', rel: 'next' },
      { target: 'http://evil.example/y', rel: 'next' },
      { target: '/z', rel: undefined },
    ]);
  });

  it('stops at the first entry it cannot read', () => {
    expect(parseLinkHeader('</a>; rel="next", garbage, </b>')).toEqual([{ target: '/a', rel: 'next' }]);
    expect(parseLinkHeader('no brackets')).toEqual([]);
    expect(parseLinkHeader('<unterminated')).toEqual([]);
  });
});

describe('formatLinkHeader', () => {
  it('writes entries back with rel only', () => {
    expect(
      formatLinkHeader([
        { target: '/a?n=1', rel: 'next' },
        { target: '/b', rel: undefined },
      ]),
    ).toBe('</a?n=1>; rel="next", </b>');
  });
});
