// workerV8Flags (issue 17): the node/V8 flags each worker process starts with, from the file or TENDER_WORKER_V8_FLAGS.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig, parseConfig } from '../../../src/config/load.js';

describe('workerV8Flags', () => {
  it('defaults to flags that bound a worker’s young generation and old-space growth', () => {
    const flags = parseConfig({}).workerV8Flags;
    expect(flags).toContain('--max-semi-space-size=1');
    expect(flags.every((f) => /^--[a-z0-9-]+(=[\w.-]+)?$/.test(f))).toBe(true);
  });

  it('splits the text on spaces; "" means V8’s own defaults', () => {
    expect(parseConfig({ workerV8Flags: ' --max-semi-space-size=4   --no-opt ' }).workerV8Flags).toEqual(['--max-semi-space-size=4', '--no-opt']);
    expect(parseConfig({ workerV8Flags: '' }).workerV8Flags).toEqual([]);
    expect(loadConfig({ env: { TENDER_WORKER_V8_FLAGS: '--max-semi-space-size=2' } }).workerV8Flags).toEqual(['--max-semi-space-size=2']);
  });

  it('refuses what is not a --flag or --flag=value: a separate argument or a path would become part of the worker’s argv', () => {
    for (const bad of ['--import x.js', '--require=/tmp/evil.js', 'max-semi-space-size=1', '--a=b;c', '-e']) {
      expect(() => parseConfig({ workerV8Flags: bad }), bad).toThrow(ConfigError);
    }
    expect(() => parseConfig({ workerV8Flags: ['--no-opt'] })).toThrow(/workerV8Flags/);
  });
});
