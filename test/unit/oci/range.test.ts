// Single-range Range parsing against a known size, and the Content-Range it implies.
import { describe, expect, it } from 'vitest';
import { contentRange, ifRangeAllows, parseRange } from '../../../src/oci/range.js';

describe('parseRange', () => {
  const size = 100;

  it('treats a missing or empty header as no range', () => {
    expect(parseRange(undefined, size)).toEqual({ kind: 'none' });
    expect(parseRange('', size)).toEqual({ kind: 'none' });
  });

  it('reads an open-ended range to the last byte (containerd resume)', () => {
    expect(parseRange('bytes=0-', size)).toEqual({ kind: 'range', range: { start: 0, end: 99 } });
    expect(parseRange('bytes=42-', size)).toEqual({ kind: 'range', range: { start: 42, end: 99 } });
  });

  it('reads a bounded range with an inclusive end', () => {
    expect(parseRange('bytes=10-19', size)).toEqual({ kind: 'range', range: { start: 10, end: 19 } });
    expect(parseRange('bytes=0-0', size)).toEqual({ kind: 'range', range: { start: 0, end: 0 } });
    expect(parseRange('bytes=99-99', size)).toEqual({ kind: 'range', range: { start: 99, end: 99 } });
  });

  it('clamps an end beyond the size to the last byte', () => {
    expect(parseRange('bytes=10-1000', size)).toEqual({ kind: 'range', range: { start: 10, end: 99 } });
    expect(parseRange('bytes=0-100', size)).toEqual({ kind: 'range', range: { start: 0, end: 99 } });
  });

  it('reads a suffix range as the last N bytes', () => {
    expect(parseRange('bytes=-5', size)).toEqual({ kind: 'range', range: { start: 95, end: 99 } });
    expect(parseRange('bytes=-100', size)).toEqual({ kind: 'range', range: { start: 0, end: 99 } });
  });

  it('clamps a suffix longer than the content to the whole content', () => {
    expect(parseRange('bytes=-500', size)).toEqual({ kind: 'range', range: { start: 0, end: 99 } });
  });

  it('reports a start at or beyond the size as unsatisfiable', () => {
    expect(parseRange('bytes=100-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=150-200', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('reports a zero-length suffix as unsatisfiable', () => {
    expect(parseRange('bytes=-0', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it.each([
    ['multi-range', 'bytes=0-1,5-6'],
    ['multi-range with spaces', 'bytes=0-1, 5-6'],
    ['another unit', 'items=0-5'],
    ['no unit', '0-5'],
    ['no dash', 'bytes=5'],
    ['dash only', 'bytes=-'],
    ['negative numbers', 'bytes=-5-10'],
    ['letters', 'bytes=a-b'],
    ['end before start', 'bytes=20-10'],
    ['garbage', 'definitely not a range'],
    ['start beyond safe integers', 'bytes=99999999999999999999-'],
  ])('ignores %s (whole body)', (_label, header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'none' });
  });
});

describe('contentRange', () => {
  it('formats "bytes start-end/size"', () => {
    expect(contentRange({ start: 10, end: 19 }, 100)).toBe('bytes 10-19/100');
    expect(contentRange({ start: 0, end: 0 }, 1)).toBe('bytes 0-0/1');
  });

  it('round-trips a parsed range', () => {
    const parsed = parseRange('bytes=-5', 1234);
    if (parsed.kind !== 'range') throw new Error('expected a range');
    expect(contentRange(parsed.range, 1234)).toBe('bytes 1229-1233/1234');
  });
});

describe('ifRangeAllows (RFC 9110 §13.1.5)', () => {
  const etag = '"sha256:0123"';

  it('allows the range without If-Range or with the exact strong entity tag', () => {
    expect(ifRangeAllows(undefined, etag)).toBe(true);
    expect(ifRangeAllows('"sha256:0123"', etag)).toBe(true);
    expect(ifRangeAllows(' "sha256:0123" ', etag)).toBe(true);
  });

  it('refuses it for another tag, a weak tag, an unquoted digest or an HTTP-date (no Last-Modified is sent)', () => {
    for (const value of ['"sha256:9999"', 'W/"sha256:0123"', 'sha256:0123', 'Wed, 21 Oct 2015 07:28:00 GMT', '', '*']) {
      expect(ifRangeAllows(value, etag), value).toBe(false);
    }
  });
});
