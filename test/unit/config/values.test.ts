// Human units in config: durations to milliseconds, sizes to bytes.
import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from '../../../src/config/values.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['1.5s', 1_500],
    ['30', 30_000],
    ['0', 0],
    [' 10s ', 10_000],
    ['5M', 300_000],
  ])('reads %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it('reads a bare number as seconds', () => {
    expect(parseDuration(45)).toBe(45_000);
    expect(parseDuration(0.5)).toBe(500);
  });

  it.each(['', 'banana', '-1s', '5 minutes', '1e3', '10w', 's', '1s2'])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it('refuses negative and non-finite numbers', () => {
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(parseDuration(Number.NaN)).toBeUndefined();
  });
});

describe('parseSize', () => {
  it.each([
    ['64MiB', 64 * 2 ** 20],
    ['50GiB', 50 * 2 ** 30],
    ['1TiB', 2 ** 40],
    ['1.5KiB', 1536],
    ['10GB', 10e9],
    ['1kb', 1000],
    ['512b', 512],
    ['4096', 4096],
    ['64 mib', 64 * 2 ** 20],
  ])('reads %j as %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it('reads a bare number as bytes', () => {
    expect(parseSize(1024)).toBe(1024);
    expect(parseSize(0)).toBe(0);
  });

  it.each(['', 'lots', '-1MiB', '64M', '1PiB', 'MiB'])('refuses %j', (input) => {
    expect(parseSize(input)).toBeUndefined();
  });

  it('refuses negative, fractional and unsafe numbers', () => {
    expect(parseSize(-1)).toBeUndefined();
    expect(parseSize(1.5)).toBeUndefined();
    expect(parseSize(2 ** 60)).toBeUndefined();
  });
});
