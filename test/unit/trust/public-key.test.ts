// parsePublicKey: cosign.pub-style PEM keys of every type cosign signs with load with a stable id; anything else says what it is.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePublicKey, type KeyLoad } from '../../../src/trust/public-key.js';
import { generateSigningKey, type KeyType } from '../../helpers/cosign-keys.js';

function problemOf(load: KeyLoad): string {
  if (load.ok) throw new Error('expected the key to be refused');
  return load.problem;
}

function pem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

const rsa3072 = `-----BEGIN PUBLIC KEY-----
MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEAtLRAOlw7UzoLZVJ/RjCZ
p4/5r4L9pn6FmJFuXg1Yxj4idATrBJfnG2LWgpfR5C8SGuBBloxAlOJGeDPDzbiA
vMlYBtWi0zfPq1SoF8ipMzj1u5FLwthHaiEwoIVzabdzHqeVYfR71G3k+F1HZlH9
rH8XJghGChCJSG7K67xZB9tfZynQD3ZGYU4Cz8mdmqsC8S/M0eVREcCcaaOPOh3W
IEtbgmdAz6RfKAm4PC3wspMX6O8KyONleBIb3ZtThiu5byJcXU04gvC/K4d2bhit
k16TGYJMVqF1Rfn13kyq99OATyhydsK3ZD3flyUFI3zAW4ukPswc6hTGeFp0TrXf
9pqx4ULUpRrrLRCPLImj7r7vWtJhgHhQ+iTukojC09oXANRRQ3AMeJkwHwQq2Mvk
rdHF0AAQDdK1kKz6hLpxW8hWCizjm4TSNI8bTq2t6UQH60pBqq9+64kzrM40AEz6
Rat5BCjewdPBaUjUBMX2589CjbyXJdUyYZISDm7a02yfAgMBAAE=
-----END PUBLIC KEY-----
`;
const rsa4096 = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEArak0fLmDwCY0R8mwwFZO
xeFHJupgadOLElXTLNkkiV5+3KQanwfjJBifHmt8AIZbuEHYeps0fQ4hlntvxi0k
zDDeRqLZ3X42vXKL/pqC7jmBZBIHLufm7aNnoV8taCW4gbKjbOWKfHx85ZPfR8GB
Awf9xlBlhqbsbt4p1l6x0kiasRLXed/pz/xDTVtbPMRdlz7k/w0+BMc4QHuuD0gC
hC4IvxGKFg2xQU6avqzK75Lu5VPivLl2yr/jJC0Udv+udj6Hz2qroxowWzi8XY/f
ZcL2FTJUV8Oya138twsRDdcK8QJnq+jqtR/R1kGiSbpk7zJ0d3jQsyPd4VTwX5f+
FqfD39zXozySnAVeoW+OzfJlgfvLIgYXTzJcLSVAyBfVV3F5kuXE1aa2LWo1vhhT
/fX1eeVifPGZbpokgr5YBhwK9tPQwz5prUxGZZlqHBhC45lLVwWzBh2Hm0TkXGzD
LNz0i8GQ/bBNeV21VSqFFPdUBALCOGLcyNcDG7AY+YVXzKT3iEuDalvHXJz9MitM
woYgsOMhjciYP/L0ta4UTk3C3U9jtkMXQndKd3voA+phIU3ALCBvYDsfs8121bZ9
+s8KIQ83xPOwTlDiBTiZzWRkbyd6d2t5tsyIYhEDqm/RwraEOzMuNtye1KqFjxAQ
R8JoMan9iFzWnSv673hE4gMCAwEAAQ==
-----END PUBLIC KEY-----
`;

describe('parsePublicKey', () => {
  it.each<[KeyType, string]>([
    ['ecdsa-p256', 'ecdsa-p256'],
    ['ecdsa-p384', 'ecdsa-p384'],
    ['ecdsa-p521', 'ecdsa-p521'],
    ['ed25519', 'ed25519'],
    ['rsa-2048', 'rsa-2048'],
  ])('loads a %s PUBLIC KEY with its algorithm, id and bundle hint', (type, algorithm) => {
    const key = generateSigningKey(type);
    const load = parsePublicKey(key.publicKeyPem);
    if (!load.ok) throw new Error(load.problem);
    const der = key.publicKey.export({ type: 'spki', format: 'der' });
    expect(load.key.algorithm).toBe(algorithm);
    expect(load.key.id).toBe(createHash('sha256').update(der).digest('hex'));
    expect(load.key.hint).toBe(createHash('sha256').update(der).digest('base64'));
    expect(load.key.spki.equals(der)).toBe(true);
  });

  it('gives the same id however the PEM is wrapped and whatever text surrounds it', () => {
    const key = generateSigningKey();
    const der = key.publicKey.export({ type: 'spki', format: 'der' });
    const a = parsePublicKey(key.publicKeyPem);
    const b = parsePublicKey(`platform signing key, rotated 2026\n${pem('PUBLIC KEY', der).replace(/\n(?!-)/g, '\r\n')}\ntrailing note`);
    expect(a.ok && b.ok && a.key.id === b.key.id).toBe(true);
  });

  it('gives different keys different ids', () => {
    const a = parsePublicKey(generateSigningKey().publicKeyPem);
    const b = parsePublicKey(generateSigningKey().publicKeyPem);
    expect(a.ok && b.ok && a.key.id !== b.key.id).toBe(true);
  });

  it('accepts RSA 3072 and 4096 bits', () => {
    // Public keys made once with openssl: generating RSA-4096 in a test takes seconds.
    const algorithm = (text: string) => {
      const load = parsePublicKey(text);
      return load.ok ? load.key.algorithm : load.problem;
    };
    expect(algorithm(rsa3072)).toBe('rsa-3072');
    expect(algorithm(rsa4096)).toBe('rsa-4096');
  });

  it('refuses a private key and says to give the public one', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(problemOf(parsePublicKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()))).toMatch(/private key \(PRIVATE KEY\).*public key/);
    expect(problemOf(parsePublicKey(privateKey.export({ type: 'sec1', format: 'pem' }).toString()))).toMatch(/private key \(EC PRIVATE KEY\)/);
    // What `cosign generate-key-pair` writes to cosign.key.
    expect(problemOf(parsePublicKey(pem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('{"kdf":{}}'))))).toMatch(
      /private key \(ENCRYPTED SIGSTORE PRIVATE KEY\)/,
    );
  });

  it('refuses a certificate and says how to get its public key', () => {
    expect(problemOf(parsePublicKey(pem('CERTIFICATE', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))))).toMatch(/certificate.*openssl x509 -pubkey/);
  });

  it('refuses a PKCS#1 RSA PUBLIC KEY with the conversion command', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(problemOf(parsePublicKey(publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()))).toMatch(/PKCS#1.*-RSAPublicKey_in -pubout/);
  });

  it.each([
    ['empty text', '', /no PEM block/],
    ['garbage', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI key@host', /no PEM block/],
    ['a body that is not base64', '-----BEGIN PUBLIC KEY-----\nnot*base64!\n-----END PUBLIC KEY-----\n', /not base64/],
    ['base64 that is not a SubjectPublicKeyInfo', pem('PUBLIC KEY', Buffer.from('hello world, not DER')), /not a valid SubjectPublicKeyInfo/],
    ['mismatched BEGIN/END labels', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END CERTIFICATE-----\n', /ends with "CERTIFICATE"/],
    ['an unknown label', pem('OPENSSH PUBLIC KEY', Buffer.from('x')), /not a PUBLIC KEY/],
  ])('refuses %s', (_name, text, problem) => {
    expect(problemOf(parsePublicKey(text))).toMatch(problem);
  });

  it('refuses two keys in one file', () => {
    const text = generateSigningKey().publicKeyPem + generateSigningKey().publicKeyPem;
    expect(problemOf(parsePublicKey(text))).toMatch(/2 PEM blocks/);
  });

  it('refuses text far too large to be a key without scanning it', () => {
    expect(problemOf(parsePublicKey('A'.repeat(1024 * 1024)))).toMatch(/too large/);
  });

  it('refuses curves and sizes cosign does not sign with, naming them', () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(problemOf(parsePublicKey(k1))).toMatch(/unsupported curve secp256k1/);
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(problemOf(parsePublicKey(rsa1024))).toMatch(/unsupported RSA key size 1024/);
    const ed448 = generateKeyPairSync('ed448').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(problemOf(parsePublicKey(ed448))).toMatch(/unsupported key type ed448/);
    const x25519 = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(problemOf(parsePublicKey(x25519))).toMatch(/unsupported key type x25519/);
  });
});
