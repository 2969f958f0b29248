// The dependency direction of ARCHITECTURE.md §2 and the npm packages each layer may use, checked
// against every import in src/ as the TypeScript parser sees it.
import { readFile, readdir } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, posix, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { moduleImports } from '../helpers/module-imports.js';

const root = resolve(import.meta.dirname, '..', '..');
const src = join(root, 'src');

interface Rule {
  /** Layers whose values (and types) this layer may import; its own layer is always allowed. */
  values: readonly string[];
  /** Layers this layer may import with `import type` only: they are handed to it, never built by it. */
  types: readonly string[];
  /** npm packages, by name. */
  packages: readonly string[];
  /** `node:` modules, or 'any'. */
  builtins: readonly string[] | 'any';
}

/**
 * A layer is a folder under src/ or a file at its top. The core reaches disk and network only through its
 * ports, so cache/ gets no node:fs, node:net or node:http; oci/ is pure vocabulary and imports nothing.
 * To give a layer a package: add it here, and say why in the commit.
 */
const rules: Readonly<Record<string, Rule>> = {
  oci: { values: [], types: [], packages: [], builtins: [] },
  cache: {
    // trust/ is pure vocabulary like oci/: the signature policy (issue 13) verifies with it.
    values: ['oci', 'trust'],
    types: ['metrics', 'log'],
    packages: ['lru-cache', 'p-limit'],
    builtins: ['node:crypto', 'node:stream', 'node:stream/promises', 'node:timers/promises', 'node:events', 'node:buffer', 'node:util'],
  },
  // trust/: the key files adapter parses the public keys it watches (through watched-files, as http/ and upstream/ do).
  storage: { values: ['oci', 'cache', 'trust', 'watched-files'], types: ['metrics', 'log', 'config'], packages: ['keyv', '@keyv/redis'], builtins: 'any' },
  upstream: { values: ['oci', 'cache', 'watched-files'], types: ['metrics', 'log', 'config'], packages: ['undici', 'p-limit', 'lru-cache'], builtins: 'any' },
  http: {
    values: ['oci', 'cache', 'watched-files'],
    types: ['metrics', 'log', 'config'],
    // zod reads admission reviews; p-limit bounds the judgements one review starts.
    packages: ['hono', '@hono/node-server', 'bcryptjs', 'piscina', 'lru-cache', 'prom-client', 'zod', 'p-limit'],
    builtins: 'any',
  },
  // The CLI goes through the core: main.ts assembles it and hands out its verbs; cli/ never reaches around it.
  cli: {
    values: ['main', 'config', 'oci'],
    types: [],
    packages: ['cli-progress', 'commander', 'p-limit', 'tar-stream'],
    builtins: 'any',
  },
  // Workers of one host (issue 17): the primary's lease tables and relay, a worker's end of the channel.
  workers: { values: ['oci', 'cache'], types: ['log', 'metrics', 'config'], packages: ['prom-client'], builtins: 'any' },
  main: {
    values: ['config', 'log', 'metrics', 'oci', 'trust', 'cache', 'storage', 'upstream', 'http', 'workers', 'audit'],
    types: [],
    packages: ['@hono/node-server', 'keyv', '@keyv/redis'],
    builtins: 'any',
  },
  // The settings table and its loading: reads files (config, secrets, lists) and the host name.
  // trust/: a signature policy's key file is checked at start (a file that is no public key is a start-up error).
  config: { values: ['oci', 'trust'], types: [], packages: ['yaml', 'zod'], builtins: ['node:fs', 'node:os', 'node:path'] },
  // Signature formats are vocabulary like oci/: no I/O, only hashing and signature checks.
  trust: { values: ['oci'], types: [], packages: ['@sigstore/bundle', '@sigstore/core', '@noble/curves'], builtins: ['node:crypto'] },
  // Pull-audit delivery (file, notification listener): adapters of the core's PullEventSink port.
  audit: { values: ['oci'], types: ['cache', 'log', 'metrics'], packages: ['undici', 'prom-client'], builtins: 'any' },
  log: { values: [], types: [], packages: ['pino'], builtins: 'any' },
  // Re-reading files that change (certificates, upstream secrets, signature keys): node:fs only, for http/, upstream/
  // and storage/ alike. The one place that watches files (see "watches files in one place" below).
  'watched-files': { values: [], types: [], packages: [], builtins: 'any' },
  metrics: { values: [], types: [], packages: ['prom-client'], builtins: 'any' },
};

interface Source {
  /** Relative to src/, with forward slashes. */
  path: string;
  text: string;
}

const layerOf = (path: string): string => (path.includes('/') ? path.split('/')[0]! : path.replace(/\.tsx?$/, ''));
const packageName = (specifier: string): string =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
const bareBuiltins = new Set(builtinModules);

/** Every import that breaks the table, as "file:line: why". `dependencies` are package.json's runtime ones. */
function violations(sources: readonly Source[], dependencies: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (const { path, text } of sources) {
    const layer = layerOf(path);
    const label = path.includes('/') ? `${layer}/` : `${layer}.ts`;
    const rule = rules[layer];
    if (!rule) {
      found.push(`${path}: layer "${layer}" is not in the table`);
      continue;
    }
    for (const i of moduleImports(path, text)) {
      const where = `${path}:${i.line}`;
      const spec = i.specifier;
      if (spec === undefined) {
        found.push(`${where}: ${i.syntax} of a computed specifier cannot be checked`);
      } else if (spec.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(path), spec));
        if (target.startsWith('../')) {
          found.push(`${where}: "${spec}" reaches outside src/`);
          continue;
        }
        const to = layerOf(target.replace(/\.js$/, '.ts'));
        const allowed = to === layer || rule.values.includes(to) || (i.typeOnly && rule.types.includes(to));
        if (!allowed) found.push(`${where}: ${label} may not import ${i.typeOnly ? 'types of ' : ''}${to} ("${spec}")`);
      } else if (spec.startsWith('node:') || bareBuiltins.has(spec)) {
        const name = spec.startsWith('node:') ? spec : `node:${spec}`;
        if (!spec.startsWith('node:')) found.push(`${where}: write the builtin "${spec}" as "${name}"`);
        else if (rule.builtins !== 'any' && !rule.builtins.includes(name)) found.push(`${where}: ${label} may not import ${name}`);
      } else {
        const name = packageName(spec);
        if (!rule.packages.includes(name)) found.push(`${where}: ${label} may not import the package ${name}`);
        else if (!dependencies.has(name)) found.push(`${where}: ${name} is not in package.json dependencies`);
      }
    }
  }
  return found;
}

/** The file-watching APIs of node:fs (watch, watchFile) a source imports or reaches through a namespace, as "file:line: what". */
function fileWatchers(path: string, text: string): string[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, path.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const watching = new Set(['watch', 'watchFile']);
  const namespaces = new Set<string>();
  const found: string[] = [];
  const at = (node: ts.Node) => `${path}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && /^(node:)?fs(\/promises)?$/.test(node.moduleSpecifier.text)) {
      const bindings = node.importClause?.namedBindings;
      if (node.importClause?.name) namespaces.add(node.importClause.name.text);
      if (bindings && ts.isNamespaceImport(bindings)) namespaces.add(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings))
        for (const element of bindings.elements) {
          const name = (element.propertyName ?? element.name).text;
          if (watching.has(name)) found.push(`${at(element)}: imports ${name} from ${node.moduleSpecifier.text}`);
        }
    } else if (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      namespaces.has(node.expression.text) &&
      watching.has(node.name.text)
    ) {
      found.push(`${at(node)}: calls ${node.expression.text}.${node.name.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every import cycle among src/ files, each as "a.ts -> b.ts -> a.ts" (found by depth-first search). */
function cycles(sources: readonly Source[]): string[] {
  const edges = new Map<string, string[]>();
  for (const { path, text } of sources) {
    const targets = moduleImports(path, text)
      .map((i) => i.specifier)
      .filter((spec): spec is string => spec !== undefined && spec.startsWith('.'))
      .map((spec) => posix.normalize(posix.join(posix.dirname(path), spec)).replace(/\.js$/, '.ts'));
    edges.set(path, targets);
  }
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      found.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const next of edges.get(file) ?? []) if (edges.has(next)) visit(next, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of edges.keys()) visit(file, []);
  return found;
}

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await tree(path)));
    else if (entry.name.endsWith('.ts') || entry.name.endsWith('.tsx')) out.push(path);
  }
  return out;
}

async function srcSources(): Promise<Source[]> {
  const files = await tree(src);
  return Promise.all(files.map(async (file) => ({ path: relative(src, file).split('\\').join('/'), text: await readFile(file, 'utf8') })));
}

const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const dependencies = new Set(Object.keys(manifest.dependencies));

describe('module imports, as the parser sees them', () => {
  it('finds every form: quotes, type-only, export-from, side effects, dynamic, multi-line, import types', () => {
    const text = [
      `import { a } from './single.js';`,
      `import { b } from "./double.js";`,
      `import type { C } from './type-only.js';`,
      `import { type D } from './inline-type.js';`,
      `export { e } from './export-from.js';`,
      `export type { F } from './export-type.js';`,
      `export * from './export-star.js';`,
      `import './side-effect.js';`,
      `const g = await import('./dynamic.js');`,
      `const h = await import(\`./template.js\`);`,
      `const i = await import(name);`,
      `import {`,
      `  j,`,
      `  k,`,
      `} from './multi-line.js';`,
      `let l: import('./import-type.js').L;`,
      `const m = require('./required.cjs');`,
      `const text = "import { x } from './in-a-string.js'"; // import { y } from './in-a-comment.js'`,
    ].join('\n');
    const found = moduleImports('x.ts', text).map((i) => [i.specifier, i.typeOnly, i.syntax, i.line]);
    expect(found).toEqual([
      ['./single.js', false, 'import', 1],
      ['./double.js', false, 'import', 2],
      ['./type-only.js', true, 'import', 3],
      ['./inline-type.js', false, 'import', 4],
      ['./export-from.js', false, 'export-from', 5],
      ['./export-type.js', true, 'export-from', 6],
      ['./export-star.js', false, 'export-from', 7],
      ['./side-effect.js', false, 'import', 8],
      ['./dynamic.js', false, 'dynamic-import', 9],
      ['./template.js', false, 'dynamic-import', 10],
      [undefined, false, 'dynamic-import', 11],
      ['./multi-line.js', false, 'import', 12],
      ['./import-type.js', true, 'import-type', 16],
      ['./required.cjs', false, 'require', 17],
    ]);
  });
});

describe('the layer table catches violations', () => {
  const check = (path: string, text: string): string[] => violations([{ path, text }], dependencies);

  it.each([
    ['double quotes', 'oci/digest.ts', `import { x } from "../cache/ports.js";`, 'oci/ may not import cache'],
    ['export … from', 'oci/digest.ts', `export { x } from '../cache/ports.js';`, 'oci/ may not import cache'],
    ['export * from', 'storage/fs.ts', `export * from '../http/app.js';`, 'storage/ may not import http'],
    ['a side-effect import', 'upstream/a.ts', `import '../storage/fs-blob-store.js';`, 'upstream/ may not import storage'],
    ['a dynamic import', 'http/app.ts', `const m = await import('../upstream/router.js');`, 'http/ may not import upstream'],
    ['a multi-line import', 'cache/a.ts', `import {\n  x,\n  y,\n} from '../storage/fs-blob-store.js';`, 'cache/ may not import storage'],
    ['a value import of a types-only layer', 'cache/a.ts', `import { Metrics } from '../metrics.js';`, 'cache/ may not import metrics'],
    ['an import type of a layer not in types', 'upstream/a.ts', `import type { App } from '../http/app.js';`, 'may not import types of http'],
    ['an import type node', 'oci/a.ts', `let x: import('../cache/ports.js').BlobStore;`, 'oci/ may not import types of cache'],
    ['the composition root from a layer', 'http/app.ts', `import { start } from '../main.js';`, 'http/ may not import main'],
    ['cli/ from main', 'main.ts', `import { run } from './cli/tender.js';`, 'main.ts may not import cli'],
    ['the core from cli/', 'cli/seed.ts', `import { walkImage } from '../cache/image-walk.js';`, 'cli/ may not import cache'],
    ['a store from cli/', 'cli/verify.ts', `import { FsBlobStore } from '../storage/fs-blob-store.js';`, 'cli/ may not import storage'],
    ['the logger from cli/', 'cli/tender.ts', `import { createLogger } from '../log.js';`, 'cli/ may not import log'],
    ['a computed dynamic import', 'cache/a.ts', `const m = await import(process.env.X!);`, 'computed specifier cannot be checked'],
    ['a path outside src/', 'cache/a.ts', `import { x } from '../../test/helpers/x.js';`, 'reaches outside src/'],
    ['a package the layer may not use', 'cache/a.ts', `import { Hono } from "hono";`, 'cache/ may not import the package hono'],
    ['a scoped package by a subpath', 'cache/a.ts', `import { x } from '@hono/node-server/utils/response';`, 'may not import the package @hono/node-server'],
    ['a package dynamically', 'oci/a.ts', `const { request } = await import('undici');`, 'oci/ may not import the package undici'],
    ['a package through require', 'cache/a.ts', `const pino = require('pino');`, 'cache/ may not import the package pino'],
    ['a builtin the core may not use', 'cache/a.ts', `import { readFile } from 'node:fs/promises';`, 'cache/ may not import node:fs/promises'],
    ['any builtin in oci/', 'oci/a.ts', `import { createHash } from 'node:crypto';`, 'oci/ may not import node:crypto'],
    ['a builtin without node:', 'http/a.ts', `import { createServer } from 'http';`, 'write the builtin "http" as "node:http"'],
    ['a layer not in the table', 'policy-engine/a.ts', `export const x = 1;`, 'layer "policy-engine" is not in the table'],
  ])('%s', (_name, path, text, message) => {
    const found = check(path, text);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(message);
  });

  it('finds an import cycle, however it is spelled', () => {
    const sources = [
      { path: 'cache/a.ts', text: `import { b } from './b.js';` },
      { path: 'cache/b.ts', text: `import type { C } from "./c.js";` },
      { path: 'cache/c.ts', text: `export { a } from './a.js';` },
      { path: 'cache/d.ts', text: `import { a } from './a.js';` },
    ];
    expect(cycles(sources)).toEqual(['cache/a.ts -> cache/b.ts -> cache/c.ts -> cache/a.ts']);
  });

  it('names a package the table allows but package.json does not list', () => {
    expect(violations([{ path: 'log.ts', text: `import pino from 'pino';` }], new Set())).toEqual(['log.ts:1: pino is not in package.json dependencies']);
  });

  it('accepts what the table allows', () => {
    const text = [
      `import { x } from "./ports.js";`,
      `import type { Metrics } from '../metrics.js';`,
      `export { y } from '../oci/digest.js';`,
      `import { LRUCache } from 'lru-cache';`,
      `const { createHash } = await import('node:crypto');`,
    ].join('\n');
    expect(check('cache/a.ts', text)).toEqual([]);
  });
});

describe('src/ follows the table', () => {
  it('finds the imports it checks', async () => {
    const all = (await srcSources()).flatMap((s) => moduleImports(s.path, s.text));
    expect(all.length).toBeGreaterThan(150);
    expect(all.filter((i) => i.typeOnly).length).toBeGreaterThan(20);
  });

  it('has no import that breaks the table', async () => {
    expect(violations(await srcSources(), dependencies)).toEqual([]);
  });

  it('has no import cycle, type-only imports included', async () => {
    expect(cycles(await srcSources())).toEqual([]);
  });

  it('watches files in one place: only watched-files.ts uses fs.watch or fs.watchFile', async () => {
    // Kubernetes Secret mounts swap a ..data symlink, some filesystems send no events: one mechanism handles both for
    // every file tender re-reads (certificates, upstream secrets, signature keys).
    const found = (await srcSources()).filter((s) => s.path !== 'watched-files.ts').flatMap((s) => fileWatchers(s.path, s.text));
    expect(found).toEqual([]);
    expect(fileWatchers('x.ts', `import { watch as w } from 'node:fs';\nimport * as fs from 'node:fs';\nfs.watchFile('a', () => 0);`)).toEqual([
      'x.ts:1: imports watch from node:fs',
      'x.ts:3: calls fs.watchFile',
    ]);
  });

  it('names only packages that package.json lists as runtime dependencies', () => {
    const named = new Set(Object.values(rules).flatMap((r) => r.packages));
    expect([...named].filter((name) => !dependencies.has(name))).toEqual([]);
  });
});
