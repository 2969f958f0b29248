// The `signatures:` section: validated at start, every key file read and parsed, problems naming the file.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { parseConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'tender-signatures-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ecKey = join(dir, 'cosign.pub');
writeFileSync(ecKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
const privateKey = join(dir, 'cosign.key');
writeFileSync(privateKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
const smallRsa = join(dir, 'rsa1024.pub');
writeFileSync(smallRsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());

function problems(signatures: unknown): string[] {
  try {
    parseConfig({ signatures });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('signatures settings', () => {
  it('reads the section as the issue writes it, with its defaults', () => {
    const config = parseConfig({
      signatures: { policies: [{ name: 'platform', repositories: ['registry.corp.example/platform/**'], keys: [ecKey] }] },
    });
    expect(config.signatures).toEqual({
      onError: 'deny',
      exempt: [],
      policies: [{ name: 'platform', repositories: ['registry.corp.example/platform/**'], keyFiles: [ecKey], mode: 'enforce' }],
    });
    expect(parseConfig({}).signatures).toBeUndefined();
  });

  it('keeps onError, exempt and warn mode', () => {
    const config = parseConfig({
      signatures: {
        onError: 'allow',
        exempt: ['registry.k8s.io/pause'],
        policies: [{ name: 'p', repositories: ['ghcr.io/org/**'], keys: [ecKey], mode: 'warn' }],
      },
    });
    expect(config.signatures?.onError).toBe('allow');
    expect(config.signatures?.exempt).toEqual(['registry.k8s.io/pause']);
    expect(config.signatures?.policies[0]?.mode).toBe('warn');
  });

  it('names the file that is not a supported public key, and why', () => {
    const missing = join(dir, 'absent.pub');
    const found = problems({
      policies: [
        { name: 'a', repositories: ['x/**'], keys: [ecKey, privateKey] },
        { name: 'b', repositories: ['y/**'], keys: [smallRsa, missing] },
      ],
    });
    expect(found).toHaveLength(3);
    expect(found[0]).toBe(
      `signatures.policies.0.keys.1: "${privateKey}": not a supported public key: this is a private key (PRIVATE KEY): give the public key (cosign.pub), never the private one`,
    );
    expect(found[1]).toMatch(new RegExp(`^signatures.policies.1.keys.0: "${smallRsa}": not a supported public key: unsupported RSA key size 1024`));
    expect(found[2]).toBe(`signatures.policies.1.keys.1: "${missing}": cannot read it: ENOENT`);
  });

  it('refuses a policy without keys or repositories, a duplicate name, a bad mode and an empty list', () => {
    expect(problems({ policies: [{ name: 'a', repositories: [], keys: [] }] }).join('\n')).toMatch(/repositories.*at least one[\s\S]*keys.*at least one/);
    expect(
      problems({
        policies: [
          { name: 'a', repositories: ['x'], keys: [ecKey] },
          { name: 'a', repositories: ['y'], keys: [ecKey] },
        ],
      }),
    ).toEqual(['signatures.policies.1.name: "a" is used by two policies']);
    expect(problems({ policies: [{ name: 'a', repositories: ['x'], keys: [ecKey], mode: 'audit' }] }).join()).toContain('signatures.policies.0.mode');
    expect(problems({ policies: [] })).toEqual(['signatures.policies: no policy listed (the signatures section would check nothing)']);
    expect(problems({ onError: 'maybe', policies: [{ name: 'a', repositories: ['x'], keys: [ecKey] }] }).join()).toContain('signatures.onError');
    expect(problems({ policies: [{ name: 'a b', repositories: ['x'], keys: [ecKey] }] }).join()).toContain('signatures.policies.0.name');
  });
});
