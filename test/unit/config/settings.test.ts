// The settings table is the one home of every setting: the README's tables and tender.example.yaml list exactly its keys.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { shownDefault, type Setting, type SettingsTable } from '../../../src/config/setting.js';
import { sections, settings } from '../../../src/config/settings.js';
import { upstreamSettings } from '../../../src/config/upstreams.js';

const root = join(import.meta.dirname, '..', '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const example = readFileSync(join(root, 'tender.example.yaml'), 'utf8');
const table: SettingsTable = settings;
const upstreamTable: SettingsTable = upstreamSettings;

/**
 * The rows of the markdown tables whose header row starts with `header`, as trimmed cells. A section may keep
 * its settings in a table of its own (admission's, under "Admission"), so that its long keys do not widen,
 * and reflow, the main table.
 */
function markdownTable(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const starts = lines.flatMap((line, i) => (line.startsWith(`| ${header} `) ? [i] : []));
  if (starts.length === 0) throw new Error(`no table with header "${header}"`);
  const rows: string[][] = [];
  for (const start of starts) {
    for (const line of lines.slice(start + 2)) {
      if (!line.startsWith('|')) break;
      rows.push(
        line
          .slice(1, -1)
          .split('|')
          .map((cell) => cell.trim()),
      );
    }
  }
  return rows;
}

const code = (cell: string): string => cell.replace(/`/g, '');

/** Checks one README table against a settings table: the same keys, and the same variable, flag and default for each. */
function compare(rows: string[][], settingsTable: SettingsTable, columns: { env?: number; flag?: number; default: number }): void {
  const keys = rows.map((row) => code(row[0]!));
  expect(
    keys.filter((key) => !(key in settingsTable)),
    'README rows for keys that do not exist',
  ).toEqual([]);
  expect(
    Object.keys(settingsTable).filter((key) => !keys.includes(key)),
    'settings missing from the README table',
  ).toEqual([]);
  expect(new Set(keys).size, 'a key listed twice').toBe(keys.length);
  for (const row of rows) {
    const setting = settingsTable[code(row[0]!)]!;
    if (columns.env !== undefined) expect(code(row[columns.env]!), `environment variable of ${row[0]}`).toBe(setting.env ?? '');
    if (columns.flag !== undefined) expect(code(row[columns.flag]!), `flag of ${row[0]}`).toBe(setting.flag ? `--${setting.flag}` : '');
    expect(code(row[columns.default]!).startsWith(shownDefault(setting)), `default of ${row[0]}: ${row[columns.default]} vs ${shownDefault(setting)}`).toBe(
      true,
    );
  }
}

/**
 * The setting keys tender.example.yaml names, set or commented out (`# key: value` lines, indented
 * like YAML): dotted paths, with upstream entries as `upstreams.*.<key>`. Below a setting whose value
 * is a map or list (auth.users, auth.tokens), nothing is a setting key.
 */
function exampleKeys(text: string): Set<string> {
  const keys = new Set<string>();
  const stack: Array<{ indent: number; key: string }> = [];
  for (const raw of text.split('\n')) {
    // A commented-out setting is "# " and YAML, indented as it would be; prose does not start "lowerCamelKey:".
    const line = raw.replace(/^(\s*)#( |$)/, '$1');
    const match = /^(\s*)([a-z][A-Za-z0-9]*|[a-z0-9][a-z0-9.-]*\.[a-z0-9.:-]+|[a-z0-9.-]+:[0-9]+):(\s|$)/.exec(line);
    if (!match) continue;
    const indent = match[1]!.length;
    while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const parent = stack.map((s) => s.key).join('.');
    const key = parent ? `${parent}.${match[2]}` : match[2]!;
    const inside = Object.keys(table).find((k) => parent === k || parent.startsWith(`${k}.`));
    if (inside === 'upstreams') {
      // upstreams.<name>: the name is free, its keys are upstream settings.
      if (stack.length === 1) stack.push({ indent, key: '*' });
      else if (stack.length === 2) keys.add(`upstreams.*.${match[2]}`);
      continue;
    }
    if (inside) continue;
    keys.add(key);
    stack.push({ indent, key: match[2]! });
  }
  return keys;
}

describe('the settings table', () => {
  it.each(Object.entries({ ...table, ...Object.fromEntries(Object.entries(upstreamTable).map(([k, s]) => [`upstreams.*.${k}`, s])) }))(
    '%s: its default passes its own check',
    (_key, setting: Setting) => {
      if (setting.default !== undefined) expect(setting.value.schema.safeParse(setting.default).success).toBe(true);
      expect(setting.help.length).toBeGreaterThan(0);
      expect(setting.help).not.toContain('\n');
    },
  );

  it('names every environment variable TENDER_<KEY IN UPPER SNAKE CASE> and every flag --<key-in-kebab-case>', () => {
    for (const [key, setting] of Object.entries(table)) {
      const words = key.split(/\.|(?=[A-Z])/).map((w) => w.toLowerCase());
      if (setting.env) expect(setting.env, key).toBe(`TENDER_${words.join('_').toUpperCase()}`);
      if (setting.flag) expect(setting.flag, key).toBe(words.join('-'));
    }
    for (const setting of Object.values(upstreamTable)) expect(setting.env ?? setting.flag).toBeUndefined();
  });

  it('gives a variable to every top-level setting that takes one value', () => {
    const scalar = (s: Setting) => !['list', 'map'].includes(s.value.placeholder);
    const missing = Object.entries(table).filter(([key, s]) => !key.includes('.') && scalar(s) && !s.env);
    expect(missing.map(([key]) => key)).toEqual([]);
  });

  it('places every dotted key in a section that is optional or a group', () => {
    for (const key of Object.keys(table)) {
      const parts = key.split('.');
      for (let i = 1; i < parts.length; i += 1) expect(sections[parts.slice(0, i).join('.')], key).toBeDefined();
    }
  });
});

describe('the README', () => {
  it('lists exactly the settings in its configuration table, with their variables, flags and defaults', () => {
    compare(markdownTable(readme, 'YAML key'), table, { env: 1, flag: 2, default: 3 });
  });

  it('lists exactly the per-upstream keys, with their defaults', () => {
    compare(markdownTable(readme, 'Key'), upstreamTable, { default: 1 });
  });
});

describe('tender.example.yaml', () => {
  const named = exampleKeys(example);
  const expected = new Set([...Object.keys(table), ...Object.keys(upstreamTable).map((k) => `upstreams.*.${k}`)]);

  it('names every setting and every per-upstream key (set, or commented out)', () => {
    expect([...expected].filter((key) => !named.has(key))).toEqual([]);
  });

  it('names no key that does not exist', () => {
    expect([...named].filter((key) => !expected.has(key) && !Object.keys(sections).includes(key))).toEqual([]);
  });

  it('names the variable and flag of each setting that has them', () => {
    const names = Object.values(table).flatMap((s) => [s.env, s.flag && `--${s.flag}`].filter((n): n is string => Boolean(n)));
    expect(names.filter((name) => !new RegExp(`${name}\\b`).test(example))).toEqual([]);
  });

  it('is a valid configuration as it stands', () => {
    const config = loadConfig({ file: join(root, 'tender.example.yaml') });
    expect(config.upstreams.map((u) => u.name)).toContain('registry.corp.example');
  });

  it('sets what it sets to the defaults', () => {
    const defaults = loadConfig({});
    const fromExample = loadConfig({ file: join(root, 'tender.example.yaml') });
    expect({ ...fromExample, upstreams: undefined, replicaId: undefined }).toEqual({ ...defaults, upstreams: undefined, replicaId: undefined });
    const builtIn = fromExample.upstreams.find((u) => u.name === 'docker.io');
    expect(builtIn).toEqual(defaults.upstreams.find((u) => u.name === 'docker.io'));
  });
});
