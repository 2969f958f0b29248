// Loading: built-in defaults < YAML file < environment < flags, validated into one frozen Config, or every problem at once.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { cacheDirProblem } from './cache-dir-problem.js';
import { buildConfig, type Config } from './config.js';
import { ConfigError, describeIssue } from './config-error.js';
import { schemaOf, valueAt, valuesOf } from './setting.js';
import { sections, settings, type SettingKey } from './settings.js';
import { upstreamSettings } from './upstreams.js';

export interface ConfigSources {
  /** Path of a YAML config file, if any. */
  readonly file?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values given as flags, by setting key (`tagTtl` for --tag-ttl), as the command line spells them. */
  readonly flags?: Readonly<Partial<Record<SettingKey, string | undefined>>>;
}

export interface LoadOptions {
  /** Also check that the cache directory can be used (created if missing): for commands that open the cache. */
  readonly checkCacheDir?: boolean;
  /** Told what is accepted but probably not meant, such as an empty config file. */
  readonly onWarning?: (message: string) => void;
}

const schema = schemaOf(settings, sections);

/** Settings whose values are never echoed: by dotted key, and by name wherever it appears (upstreams.*.password, auth.tokens.*.token). */
const secretKeys: ReadonlySet<string> = new Set(Object.entries(settings).flatMap(([key, s]) => ('secret' in s && s.secret ? [key] : [])));
const secretNames: ReadonlySet<string> = new Set(Object.entries(upstreamSettings).flatMap(([key, s]) => ('secret' in s && s.secret ? [key] : [])));
const isSecret = (path: readonly PropertyKey[]): boolean => secretKeys.has(path.join('.')) || secretNames.has(String(path[path.length - 1]));

/** Reads and validates every source; throws a ConfigError listing every problem at once. */
export function loadConfig(sources: ConfigSources = {}, options: LoadOptions = {}): Config {
  const merged = sources.file ? readConfigFile(sources.file, options) : {};
  // Where a value came from, when not the file: problems name the variable or flag the operator typed.
  const origins = new Map<string, string>();
  for (const [key, setting] of Object.entries(settings)) {
    if (!('env' in setting)) continue;
    const text = sources.env?.[setting.env];
    if (text === undefined || text === '') continue; // an empty variable counts as unset
    setAt(merged, key, setting.value.fromText(text));
    origins.set(key, `${setting.env} (${key})`);
  }
  for (const [key, text] of Object.entries(sources.flags ?? {})) {
    const setting = settings[key as SettingKey];
    if (text === undefined || !setting || !('flag' in setting)) continue;
    setAt(merged, key, setting.value.fromText(text));
    origins.set(key, `--${setting.flag} (${key})`);
  }
  return resolve(merged, origins, options);
}

/** Validates settings given as an object, shaped like the YAML file (no file, environment or flags). */
export function parseConfig(object: unknown, options: LoadOptions = {}): Config {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    throw new ConfigError([`expected settings as an object (a YAML mapping), got ${kindOf(object)}`]);
  }
  // Problems are handled by removing what they name: the caller's object stays as it was.
  return resolve(structuredClone(object) as Record<string, unknown>, new Map(), options);
}

function readConfigFile(file: string, options: LoadOptions): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`config file ${file}: ${(err as Error).message}`]);
  }
  if (parsed === null || parsed === undefined) {
    options.onWarning?.(`config file ${file} is empty: using the built-in defaults`);
    return {};
  }
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`config file ${file}: expected settings such as "listen: :5000" at the top level, got ${kindOf(parsed)}`]);
  }
  return parsed as Record<string, unknown>;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null || value === undefined) return 'nothing';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`; // a scalar's value is not shown: it may be a secret
}

function resolve(merged: Record<string, unknown>, origins: ReadonlyMap<string, string>, options: LoadOptions): Config {
  const problems: string[] = [];
  const source = (key: string): string => origins.get(key) ?? key;
  const sourceOf = (path: readonly PropertyKey[]): string => (path.length === 0 ? '(top level)' : source(path.join('.')));
  // Every problem at once: report schema issues, drop what they name, and still check the rest.
  const dropped = new Set<string>();
  const broken = new Set<string>();
  let parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    // Describe every issue before dropping anything, so each message still names its value.
    for (const issue of issues) problems.push(describeIssue(issue, merged, sourceOf, isSecret));
    for (const issue of issues) dropIssue(merged, issue, dropped, broken);
    parsed = schema.safeParse(merged);
    if (!parsed.success) throw new ConfigError(problems);
  }
  const data = parsed.data;
  const config = buildConfig(valuesOf(settings, data), problems, { given: (section) => valueAt(data, section) !== undefined, broken, source });
  // A cacheDir with a shape error was reported already; the default is not checked in its place.
  if (options.checkCacheDir && !dropped.has('cacheDir')) {
    const problem = cacheDirProblem(config.cacheDir);
    if (problem) problems.push(`${source('cacheDir')}: ${problem}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** Sets a dotted key, making the sections on the way (an environment variable may turn one on). */
function setAt(settings: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = settings;
  for (const part of parts.slice(0, -1)) {
    const next = at[part];
    at = at[part] = next !== null && typeof next === 'object' && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
  }
  at[parts[parts.length - 1]!] = value;
}

/** Removes what a schema issue points at, so the remaining settings can still be checked. */
function dropIssue(settings: Record<string, unknown>, issue: z.core.$ZodIssue, dropped: Set<string>, broken: Set<string>): void {
  const [first, second] = issue.path as Array<string | number>;
  if (first === undefined) {
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) delete settings[key];
    return;
  }
  if (first === 'upstreams' && second !== undefined) {
    // A broken upstream entry is left out whole; its name is remembered so nothing else trips on it.
    delete (settings.upstreams as Record<string, unknown>)[second];
    broken.add(String(second));
    return;
  }
  dropped.add(String(first));
  delete settings[first];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
