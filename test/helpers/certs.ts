// Test PKI made with the openssl CLI: a CA, server certificates for 127.0.0.1/localhost, and client certificates.
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Certificate {
  /** Path of the PEM certificate. */
  readonly cert: string;
  /** Path of the PEM (PKCS#8, unencrypted) key. */
  readonly key: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly commonName: string;
  /** Upper-case hex, as X509Certificate.serialNumber and tls getPeerCertificate().serialNumber give it. */
  readonly serial: string;
  /** SHA-256, colon-separated upper-case hex, as X509Certificate.fingerprint256. */
  readonly fingerprint: string;
}

export interface LeafOptions {
  readonly commonName: string;
  /** subjectAltName entries; servers default to IP:127.0.0.1 and DNS:localhost. */
  readonly altNames?: readonly string[];
  /** File name stem inside the directory; defaults to the common name. */
  readonly name?: string;
}

/** A fresh temporary directory for certificate files. */
export function certificateDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tender-certs-'));
}

const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA (ca.crt, ca.key in `dir`). */
export async function createCa(dir: string, commonName = 'tender test CA'): Promise<Certificate> {
  const config = join(dir, 'ca.cnf');
  // Our own config section: the system openssl.cnf differs between distributions and versions.
  await writeFile(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = ca_ext',
      'prompt = no',
      '[dn]',
      `CN = ${commonName}`,
      '[ca_ext]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  await run('openssl', ['req', '-x509', ...curve, '-config', config, '-keyout', key, '-out', cert, '-days', '2', '-set_serial', serial()]);
  return describe(cert, key, commonName);
}

/** A server certificate for 127.0.0.1 and localhost, signed by `ca`. */
export function createServerCertificate(ca: Certificate, dir: string, options: LeafOptions): Promise<Certificate> {
  return createLeaf(ca, dir, options, 'serverAuth', options.altNames ?? ['IP:127.0.0.1', 'DNS:localhost']);
}

/** A client certificate for mutual TLS, signed by `ca`. */
export function createClientCertificate(ca: Certificate, dir: string, options: LeafOptions): Promise<Certificate> {
  return createLeaf(ca, dir, options, 'clientAuth', options.altNames ?? []);
}

async function createLeaf(
  ca: Certificate,
  dir: string,
  options: LeafOptions,
  usage: 'serverAuth' | 'clientAuth',
  altNames: readonly string[],
): Promise<Certificate> {
  const stem = join(dir, options.name ?? options.commonName.replace(/[^A-Za-z0-9._-]/g, '_'));
  const [key, csr, cert, ext] = [`${stem}.key`, `${stem}.csr`, `${stem}.crt`, `${stem}.ext`];
  await writeFile(
    ext,
    [
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      `extendedKeyUsage = ${usage}`,
      ...(altNames.length > 0 ? [`subjectAltName = ${altNames.join(', ')}`] : []),
      '',
    ].join('\n'),
  );
  await run('openssl', ['req', '-new', ...curve, '-keyout', key, '-out', csr, '-subj', `/CN=${options.commonName}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', serial(), '-days', '2', '-extfile', ext, '-out', cert]);
  return describe(cert, key, options.commonName);
}

/** A random positive 128-bit serial, so every certificate is told apart by serial as well as fingerprint. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return `0x${bytes.toString('hex')}`;
}

async function describe(cert: string, key: string, commonName: string): Promise<Certificate> {
  const [certPem, keyPem] = await Promise.all([readFile(cert, 'utf8'), readFile(key, 'utf8')]);
  const x509 = new X509Certificate(certPem);
  return { cert, key, certPem, keyPem, commonName, serial: x509.serialNumber, fingerprint: x509.fingerprint256 };
}
