// What the settings tables say about one setting, and the zod schema derived from a table.
import { z } from 'zod';
import type { ValueType } from './value-types.js';

/** Commands that load the configuration; a flag is offered on the ones its setting matters to. */
export const configCommands = ['serve', 'seed', 'export', 'import', 'check'] as const;
export type ConfigCommand = (typeof configCommands)[number];

export interface Setting {
  readonly value: ValueType;
  /** The default as it would be written in YAML; absent when the setting is off or computed (see defaultText). */
  readonly default?: unknown;
  /** The default in words, for a setting whose default is computed or means "off" ("host name", "none"); shown instead of `default`. */
  readonly defaultText?: string;
  /** Must be given whenever its section is (tls.cert, metadata.redis.url). */
  readonly required?: boolean;
  /** TENDER_<KEY IN UPPER SNAKE CASE>, for settings that take one value. */
  readonly env?: string;
  /** `--<key-in-kebab-case>`, without the dashes. */
  readonly flag?: string;
  /** The commands that offer the flag; all that load the configuration when absent. */
  readonly commands?: readonly ConfigCommand[];
  /** Its value is never shown in an error message. */
  readonly secret?: boolean;
  /** One line, for --help. */
  readonly help: string;
}

export type SettingsTable = Readonly<Record<string, Setting>>;

/**
 * Sections group dotted keys. An `optional` section is off unless given (its presence turns a feature
 * on: tls, auth); a `group` is always there, so the defaults of its keys apply (pin, auth.throttle).
 */
export type Sections = Readonly<Record<string, 'optional' | 'group'>>;

/** The default as help text and the README show it: `5m`, `[metrics]`, or the words of defaultText. */
export function shownDefault(setting: Setting): string {
  if (setting.defaultText !== undefined || setting.default === undefined) return setting.defaultText ?? 'none';
  return Array.isArray(setting.default) ? `[${setting.default.join(', ')}]` : String(setting.default);
}

interface Node {
  readonly leaves: Map<string, Setting>;
  readonly children: Map<string, Node>;
}

/** The strict object schema of a table: nested objects for dotted keys, defaults filled in, unknown keys refused. */
export function schemaOf(table: SettingsTable, sections: Sections = {}): z.ZodType<Record<string, unknown>> {
  const root: Node = { leaves: new Map(), children: new Map() };
  for (const [key, setting] of Object.entries(table)) {
    const parts = key.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      let child = node.children.get(part);
      if (!child) node.children.set(part, (child = { leaves: new Map(), children: new Map() }));
      node = child;
    }
    node.leaves.set(parts[parts.length - 1]!, setting);
  }
  const build = (node: Node, path: string): z.ZodType => {
    const shape: Record<string, z.ZodType> = {};
    for (const [name, setting] of node.leaves) {
      const schema = setting.value.schema;
      // prefault: the default goes through the schema like a given value (durations become ms).
      shape[name] = setting.default !== undefined ? schema.prefault(setting.default) : setting.required ? schema : schema.optional();
    }
    for (const [name, child] of node.children) {
      const at = path ? `${path}.${name}` : name;
      const kind = sections[at];
      if (!kind) throw new Error(`section ${at} is neither optional nor a group`);
      shape[name] = kind === 'group' ? build(child, at).prefault({}) : build(child, at).optional();
    }
    return z.object(shape).strict();
  };
  return build(root, '') as z.ZodType<Record<string, unknown>>;
}

/** The value at a dotted key of a parsed object, or undefined. */
export function valueAt(settings: unknown, key: string): unknown {
  let value = settings;
  for (const part of key.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The values of a table's settings by key, as its schema outputs them: a key with a default (or required) is always set. */
export type ValuesOf<T extends SettingsTable> = {
  readonly [K in keyof T]: T[K] extends { readonly default: unknown } | { readonly required: true }
    ? z.output<T[K]['value']['schema']>
    : z.output<T[K]['value']['schema']> | undefined;
};

/** A parsed object read by the table's dotted keys. */
export function valuesOf<T extends SettingsTable>(table: T, parsed: unknown): ValuesOf<T> {
  return Object.fromEntries(Object.keys(table).map((key) => [key, valueAt(parsed, key)])) as ValuesOf<T>;
}
