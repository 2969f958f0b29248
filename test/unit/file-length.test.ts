// ARCHITECTURE.md: files are named for what they export and small enough to read in one sitting (about 300
// lines). Issue 11 made it a rule for src/; this keeps it one.
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const maxLines = 300;

it(`no source file in src/ is longer than ${maxLines} lines`, async () => {
  const entries = await readdir(join(root, 'src'), { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && /\.tsx?$/.test(e.name)).map((e) => join(e.parentPath, e.name));
  expect(files.length).toBeGreaterThan(50);
  const long: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
    if (lines > maxLines) long.push(`${relative(root, file)}: ${lines} lines`);
  }
  expect(long, 'split these along their seams (docs/architecture.md)').toEqual([]);
});
