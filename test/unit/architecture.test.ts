// The dependency direction of ARCHITECTURE.md §2, checked against every import in src/.
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = resolve(import.meta.dirname, '..', '..', 'src');

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

async function imports(): Promise<Import[]> {
  const found: Import[] = [];
  for (const file of await files(src)) {
    const text = await readFile(file, 'utf8');
    for (const match of text.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'(\.[^']+)'/gm)) {
      const target = resolve(dirname(file), match[2]!).replace(/\.js$/, '.ts');
      found.push({ from: relative(src, file), to: relative(src, target), typeOnly: Boolean(match[1]) });
    }
  }
  return found;
}

/** The layer of a file: its folder under src/, or the file itself at the top. */
const layer = (path: string): string => (path.includes('/') ? path.split('/')[0]! : path.replace(/\.ts$/, ''));

describe('dependency direction', () => {
  it('finds the imports it checks', async () => {
    expect((await imports()).length).toBeGreaterThan(40);
  });

  it('keeps oci/ pure: it imports nothing of ours outside oci/', async () => {
    const bad = (await imports()).filter((i) => layer(i.from) === 'oci' && layer(i.to) !== 'oci');
    expect(bad).toEqual([]);
  });

  it('keeps trust/ pure vocabulary like oci/: it imports only oci/ and trust/ of ours', async () => {
    const bad = (await imports()).filter((i) => layer(i.from) === 'trust' && !['oci', 'trust'].includes(layer(i.to)));
    expect(bad).toEqual([]);
  });

  it('keeps trust/ free of I/O: of packages it uses only node:crypto, the sigstore packages and @noble/curves', async () => {
    const allowed = /^(node:crypto|@sigstore\/(bundle|core)|@noble\/curves\/.+)$/;
    const bad: string[] = [];
    for (const file of await files(join(src, 'trust'))) {
      for (const match of (await readFile(file, 'utf8')).matchAll(/^import\s+[^'"]*?from\s+'([^.'][^']*)'/gm)) {
        if (!allowed.test(match[1]!)) bad.push(`${relative(src, file)} imports ${match[1]}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('lets cache/ import only oci/, cache/ and the types of metrics and log', async () => {
    const bad = (await imports()).filter(
      (i) => layer(i.from) === 'cache' && !['oci', 'cache'].includes(layer(i.to)) && !(i.typeOnly && ['metrics', 'log'].includes(layer(i.to))),
    );
    expect(bad).toEqual([]);
  });

  it('never lets the adapters storage/, upstream/ and http/ import each other', async () => {
    const adapters = ['storage', 'upstream', 'http'];
    const bad = (await imports()).filter((i) => adapters.includes(layer(i.from)) && adapters.includes(layer(i.to)) && layer(i.from) !== layer(i.to));
    expect(bad).toEqual([]);
  });

  it('builds concrete parts only in main.ts and cli/: nothing else imports them', async () => {
    const bad = (await imports()).filter((i) => (i.to === 'main.ts' || layer(i.to) === 'cli') && !(i.from === 'main.ts' || layer(i.from) === 'cli'));
    expect(bad).toEqual([]);
  });

  it('lets adapters see configuration only as types (their slice is handed to them)', async () => {
    const bad = (await imports()).filter((i) => ['storage', 'upstream', 'http', 'cache'].includes(layer(i.from)) && i.to === 'config.ts' && !i.typeOnly);
    expect(bad).toEqual([]);
  });
});
