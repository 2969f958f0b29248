// The `admission:` section: off unless given, the defaults the endpoints were built for, and the problems an
// operator must hear about at start rather than from a refused Pod.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { parseConfig } from '../../../src/config/load.js';
import { defaultAdmissionSettings } from '../../../src/http/admission-settings.js';
import { defaultAdmissionDeadlineMs } from '../../../src/http/admission-routes.js';

const dir = mkdtempSync(join(tmpdir(), 'tender-admission-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const certificatePem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const tls = { cert: '/nonexistent/tls.crt', key: '/nonexistent/tls.key' };

function problems(settings: Record<string, unknown>): string {
  try {
    parseConfig(settings);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('admission settings', () => {
  it('are off unless the section is given', () => {
    expect(parseConfig({}).admission).toBeUndefined();
  });

  it('default to what the endpoints were built for', () => {
    const admission = parseConfig({ admission: {} }).admission!;
    const { mode, requireDigest, exemptNamespaces, mirrorHosts, breakGlassAnnotation } = admission;
    expect({ mode, requireDigest, exemptNamespaces, mirrorHosts, breakGlassAnnotation }).toEqual({ ...defaultAdmissionSettings });
    expect(admission.deadlineMs).toBe(defaultAdmissionDeadlineMs);
    expect(admission).toMatchObject({ clientCa: undefined, tokens: [] });
  });

  it('read the client CA and the tokens from their files', () => {
    const ca = join(dir, 'ca.crt');
    const tokenFile = join(dir, 'token');
    writeFileSync(ca, certificatePem);
    writeFileSync(tokenFile, 'a-token-of-enough-length\n');
    const admission = parseConfig({
      tls: { cert: ca, key: ca },
      admission: {
        clientCa: ca,
        tokens: [
          { name: 'apiserver', tokenFile },
          { name: 'inline', token: 'another-long-token-value' },
        ],
      },
    }).admission!;
    expect(admission.clientCa).toBe(certificatePem.trim());
    expect(admission.tokens).toEqual([
      { name: 'apiserver', token: 'a-token-of-enough-length' },
      { name: 'inline', token: 'another-long-token-value' },
    ]);
  });

  it.each([
    [
      { admission: { breakGlassAnnotation: 'tender.example/break-glass' } },
      'admission.breakGlassAnnotation: "tender.example/break-glass" does not match *.image-policy.k8s.io/*',
    ],
    [{ admission: { deadline: '45s' } }, 'admission.deadline: expected 100ms to 29s'],
    [{ admission: { mode: 'audit' } }, 'admission.mode'],
    [{ admission: { exemptNamespaces: ['Kube-System'] } }, 'expected namespace names'],
    [{ admission: { mirrorHosts: ['https://tender.example'] } }, 'expected host or host:port'],
    [{ admission: { clientCa: join(dir, 'missing.crt') } }, 'admission.clientCa: cannot read'],
    [{ admission: { clientCa: join(dir, 'missing.crt') } }, 'admission.clientCa: needs tls'],
    [{ admission: { tokens: [{ name: 'x' }] } }, 'admission.tokens.0: set token or tokenFile'],
    [{ admission: { tokens: [{ name: 'x', token: 'short' }] } }, 'tokens need at least 16 characters'],
  ])('refuses %j', (settings, problem) => {
    expect(problems({ ...settings })).toContain(problem);
  });

  it('refuses a mirror whose clients authenticate but whose API server could not', () => {
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, 'alice:$2y$05$abcdefghijklmnopqrstuuJ8v9n8GQ8rJ1P1zHXK7hP8q3c8E0q4u\n');
    expect(problems({ auth: { htpasswd }, admission: {} })).toContain('admission: auth is on, so the API server must authenticate too');
    expect(() => parseConfig({ auth: { htpasswd }, admission: { tokens: [{ name: 'apiserver', token: 'a-token-of-enough-length' }] } })).not.toThrow();
  });

  it('a client CA that holds no certificate is refused', () => {
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    expect(problems({ tls, admission: { clientCa: notPem } })).toContain('holds no PEM certificate');
  });
});
