// The kinds of value a setting takes: how YAML, environment and flag values are checked and converted.
import { z } from 'zod';
import { parseDuration, parseListen, parseSize } from './values.js';

export interface ValueType<S extends z.ZodType = z.ZodType> {
  /** Checks a value as YAML gives it and converts it to what Config holds (durations to ms, sizes to bytes). */
  readonly schema: S;
  /** How help text names the value: `--tag-ttl <duration>`. */
  readonly placeholder: string;
  /** Environment variables and flags are text: what the schema is given for one. */
  readonly fromText: (text: string) => unknown;
}

const asText = (text: string): unknown => text;

function valueType<S extends z.ZodType>(schema: S, placeholder: string, fromText: (text: string) => unknown = asText): ValueType<S> {
  return { schema, placeholder, fromText };
}

const numberOrText = z.union([z.string(), z.number()]);

/** "500ms", "30s", "5m", "1h", "2d" or a bare number of seconds → milliseconds. */
export const duration = valueType(
  numberOrText
    .refine((v) => parseDuration(v) !== undefined, { message: 'expected a duration such as "500ms", "30s", "5m" or "1h"' })
    .transform((v) => parseDuration(v)!),
  'duration',
);

/** "64MiB", "50GiB", "10GB" or a bare number of bytes → bytes. */
export const size = valueType(
  numberOrText.refine((v) => parseSize(v) !== undefined, { message: 'expected a size such as "64MiB" or "50GiB"' }).transform((v) => parseSize(v)!),
  'size',
);

/** A size above 0: a ceiling of 0 would refuse everything it bounds. */
export const positiveSize = valueType(
  numberOrText
    .refine((v) => parseSize(v) !== undefined, { message: 'expected a size such as "64MiB" or "50GiB"' })
    .transform((v) => parseSize(v)!)
    .refine((bytes) => bytes > 0, { message: 'expected a size above 0' }),
  'size',
);

/** "host:port", ":port", "[::]:port" or a port number → host and port. */
export const listenAddress = valueType(
  numberOrText.refine((v) => parseListen(v) !== undefined, { message: 'expected "host:port", ":port" or a port number' }).transform((v) => parseListen(v)!),
  'host:port',
);

/** Environment and flag text for a boolean: true/false/1/0/yes/no; anything else stays text for the schema to refuse. */
function booleanOf(text: string): unknown {
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  return text;
}

export const boolean = valueType(z.boolean({ error: 'expected true or false' }), 'true|false', booleanOf);

/** A whole number in [min, max]; text that is not one stays text, so the error shows it as given. */
export function integer(min: number, max: number) {
  return valueType(z.number().int().min(min).max(max), 'n', (text) => (/^-?\d+$/.test(text.trim()) ? Number(text) : text));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, placeholder = values.join('|')) {
  return valueType(z.enum(values), placeholder);
}

/** Text, at least one character; with a pattern, the message says what was expected. */
export function text(placeholder: string, pattern?: { readonly regex: RegExp; readonly message: string }) {
  return valueType(pattern ? z.string().regex(pattern.regex, pattern.message) : z.string().min(1, 'expected a non-empty string'), placeholder);
}

/**
 * Command-line flags for node/V8, space-separated (`--max-semi-space-size=1 --no-opt`) → the list; "" → none.
 * Only `--name` and `--name=value` with a plain value: a flag that takes the next word (`--import x`) or a path is
 * not a V8 setting, and this text becomes a process's argv.
 */
export const v8FlagList = valueType(
  z
    .string()
    .regex(/^\s*(--[a-z0-9][a-z0-9_-]*(=[A-Za-z0-9._-]+)?(\s+|$))*$/, 'expected space-separated flags like --max-semi-space-size=1 (or "" for none)')
    .transform((text) => text.split(/\s+/).filter(Boolean)),
  'flags',
);

/** Lists and maps: set in the YAML file only. */
export function structured<S extends z.ZodType>(schema: S, placeholder: string): ValueType<S> {
  return valueType(schema, placeholder, () => {
    throw new Error(`a ${placeholder} cannot be given as text`);
  });
}

/** "auto" or a whole number in [1, max]: how many of something to run (workers). */
export function autoOrCount(max: number) {
  return valueType(
    z.union([z.literal('auto'), z.number().int().min(1).max(max)], { error: `expected "auto" or a whole number from 1 to ${max}` }),
    'auto|n',
    (text) => (/^\d+$/.test(text.trim()) ? Number(text) : text.trim()),
  );
}
