// The `tender` executable as installed: package.json bin, shebang, and the exit status and output a shell sees.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRun, runTender } from '../helpers/cli.js';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

describe('the tender executable', () => {
  it('is the built entry point, which starts with a shebang', () => {
    expect(pkg.bin).toEqual({ tender: 'dist/cli/tender.js' });
    // tsc keeps the first line: dist/cli/tender.js is src/cli/tender.ts compiled (tsconfig.build.json: src → dist).
    expect(readFileSync(join(root, 'src', 'cli', 'tender.ts'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
  });

  it('prints its version and exits 0', async () => {
    const result = await runTender(['--version']);
    expect(result.code, describeRun(['--version'], result)).toBe(0);
    expect(result.stdout).toBe(`${pkg.version}\n`);
  });

  it('exits 2 on an unknown option, with the message on stderr only', async () => {
    const result = await runTender(['seed', '--bogus', 'x']);
    expect(result.code, describeRun(['seed', '--bogus', 'x'], result)).toBe(2);
    expect(result.stderr).toBe('error: unknown option \'--bogus\'\n(run "tender seed --help" for its options)\n');
    expect(result.stdout).toBe('');
  });
});
