// The signature policy settings (`signatures:` in the config): which repositories need a cosign signature, with which keys.
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { parsePublicKey } from '../trust/public-key.js';
import { structured } from './value-types.js';

/** One policy: the repositories it covers, the keys any one of which must have signed, and what a refusal does. */
export interface SignaturePolicyConfig {
  /** Configured name: shown in refusals and used as a metric label (validated, so bounded). */
  readonly name: string;
  /** `upstream/repository` patterns (`*` within a path component, `**` across), as `pin.repositories`. */
  readonly repositories: readonly string[];
  /** PEM public key files; re-read when they change (Kubernetes Secret mounts rotate). */
  readonly keyFiles: readonly string[];
  /** `enforce` refuses with 403; `warn` serves, logs and counts. */
  readonly mode: 'enforce' | 'warn';
}

export interface SignatureConfig {
  /** When signatures cannot be fetched or read (upstream down and nothing cached, a timeout): refuse with 503, or serve (`fail-open`). */
  readonly onError: 'deny' | 'allow';
  /** `upstream/repository` patterns never checked (break-glass, system images). */
  readonly exempt: readonly string[];
  /** In order: the first policy whose patterns match a repository is the one that applies. */
  readonly policies: readonly SignaturePolicyConfig[];
}

const pattern = z.string().regex(/^[A-Za-z0-9.:_*/-]+$/, 'expected "upstream/repository" patterns with * and **');

/** `signatures.policies`: a list of {name, repositories, keys, mode}. */
export const signaturePolicies = structured(
  z.array(
    z
      .object({
        // A metric label value and a word in messages: short, plain.
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected a name of letters, digits, ".", "_" or "-" (at most 63)'),
        repositories: z.array(pattern).min(1, 'expected at least one "upstream/repository" pattern'),
        keys: z.array(z.string().min(1)).min(1, 'expected at least one public key file'),
        mode: z.enum(['enforce', 'warn']).default('enforce'),
      })
      .strict(),
  ),
  'list',
);

export const signatureExempt = structured(z.array(pattern), 'list');

export interface SignatureValues {
  readonly onError: 'deny' | 'allow';
  readonly exempt: readonly string[];
  readonly policies: z.output<typeof signaturePolicies.schema> | undefined;
}

/** A PEM public key file is under 1 KiB; a larger file is not read whole. */
const maxKeyFileBytes = 64 * 1024;

/** The signature configuration; every key file is read and parsed now, so a bad one stops the start naming the file. */
export function buildSignatures(values: SignatureValues, problems: string[]): SignatureConfig {
  const policies = values.policies ?? [];
  if (policies.length === 0) problems.push('signatures.policies: no policy listed (the signatures section would check nothing)');
  const names = new Set<string>();
  for (const [i, policy] of policies.entries()) {
    if (names.has(policy.name)) problems.push(`signatures.policies.${i}.name: "${policy.name}" is used by two policies`);
    names.add(policy.name);
    for (const [k, file] of policy.keys.entries()) {
      const problem = keyFileProblem(file);
      if (problem) problems.push(`signatures.policies.${i}.keys.${k}: "${file}": ${problem}`);
    }
  }
  return {
    onError: values.onError,
    exempt: values.exempt,
    policies: policies.map((p) => ({ name: p.name, repositories: p.repositories, keyFiles: p.keys, mode: p.mode })),
  };
}

/** Why `file` is not a usable public key, or undefined. */
export function keyFileProblem(file: string): string | undefined {
  let text: string;
  try {
    if (statSync(file).size > maxKeyFileBytes) return `larger than ${maxKeyFileBytes} bytes: not a PEM public key`;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  const parsed = parsePublicKey(text);
  return parsed.ok ? undefined : `not a supported public key: ${parsed.problem}`;
}
