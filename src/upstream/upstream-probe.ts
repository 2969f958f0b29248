// `tender doctor`: tries one configured upstream step by step (DNS, TLS, /v2/, token realm, credentials) with
// the connect options and credentials tender would use, and says what works and what does not.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import type { UpstreamConfig } from '../config/upstreams.js';
import { describeError } from '../oci/errors.js';
import { parseChallenge, type Challenge } from '../oci/www-authenticate.js';
import { familyOptions, upstreamConnect, type NetworkOverrides } from './connect-options.js';
import { realmRefusal } from './realm-policy.js';

export type CheckName = 'dns' | 'tls' | '/v2/' | 'realm' | 'credentials';

export interface ProbeCheck {
  readonly name: CheckName;
  readonly ok: boolean;
  readonly detail: string;
}

export interface ProbeReport {
  readonly upstream: string;
  readonly ok: boolean;
  readonly checks: readonly ProbeCheck[];
}

/** Realm answers are read only to see whether a token came back: a few KiB in practice. */
const maxRealmAnswerBytes = 64 * 1024;

export async function probeUpstream(config: UpstreamConfig, network: NetworkOverrides = {}): Promise<ProbeReport> {
  const checks: ProbeCheck[] = [];
  const report = (): ProbeReport => ({ upstream: config.name, ok: checks.every((c) => c.ok), checks });
  const url = new URL(config.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));

  const dns = await resolve(host, config, network);
  checks.push(dns);
  if (!dns.ok) return report();

  if (url.protocol === 'https:') {
    const tls = await handshake(host, port, config, network);
    checks.push(tls);
    if (!tls.ok) return report();
  } else checks.push({ name: 'tls', ok: true, detail: 'none (plain http, insecure: true)' });

  const agent = new Agent({
    connect: upstreamConnect(config, { ca: config.ca, cert: config.clientCert, key: config.clientKey }, network),
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.idleTimeoutMs,
  });
  try {
    const get = (target: string, authorization?: string) => fetchText(agent, target, authorization, config.connectTimeoutMs + config.headersTimeoutMs);
    const base = `${config.url}/v2/`;
    let challenge: Challenge | undefined;
    try {
      const answer = await get(base);
      if (answer.status === 200) {
        checks.push({ name: '/v2/', ok: true, detail: '200, no authentication asked' });
      } else if (answer.status === 401 && (challenge = parseChallenge(answer.challenge)) !== undefined) {
        const realm = challenge.params.realm ? ` (realm ${challenge.params.realm})` : '';
        checks.push({ name: '/v2/', ok: true, detail: `401, asks for ${challenge.scheme}${realm}` });
      } else {
        checks.push({
          name: '/v2/',
          ok: false,
          detail: `answered ${answer.status}${answer.status === 401 ? ' without a challenge' : ''}: not a registry API?`,
        });
        return report();
      }
    } catch (err) {
      checks.push({ name: '/v2/', ok: false, detail: describeError(err) });
      return report();
    }
    const secrets = { username: config.username, password: config.password, token: config.token };

    if (challenge?.scheme === 'bearer') {
      const realm = realmUrl(challenge);
      if (!realm) {
        checks.push({ name: 'realm', ok: false, detail: 'the bearer challenge names no usable realm URL' });
        return report();
      }
      let anonymous: boolean;
      try {
        const answer = await get(realm.href);
        anonymous = answer.status === 200 && hasToken(answer.body);
        checks.push({ name: 'realm', ok: true, detail: `${realm.origin} reachable, anonymous tokens ${anonymous ? 'issued' : `refused (${answer.status})`}` });
      } catch (err) {
        checks.push({ name: 'realm', ok: false, detail: `${realm.origin}: ${describeError(err)}` });
        return report();
      }
      if (secrets.token !== undefined) {
        checks.push(await staticToken(get, base, secrets.token));
      } else if (secrets.username !== undefined && secrets.password !== undefined) {
        const refusal = realmRefusal(realm, { upstreamUrl: config.url, insecure: config.insecure, tokenRealms: config.tokenRealms });
        if (refusal) {
          checks.push({ name: 'credentials', ok: false, detail: `not sent to the realm: ${refusal}` });
        } else {
          const answer = await get(realm.href, basic(secrets.username, secrets.password)).catch((err: unknown) => describeError(err));
          if (typeof answer === 'string') checks.push({ name: 'credentials', ok: false, detail: `the realm did not answer: ${answer}` });
          else if (answer.status === 200 && hasToken(answer.body)) checks.push({ name: 'credentials', ok: true, detail: `accepted for ${secrets.username}` });
          else checks.push({ name: 'credentials', ok: false, detail: `refused for ${secrets.username} (the realm answered ${answer.status})` });
        }
      } else {
        checks.push({
          name: 'credentials',
          ok: anonymous,
          detail: anonymous ? 'none configured (anonymous pulls)' : 'none configured, and the realm gives no anonymous token',
        });
      }
    } else if (challenge?.scheme === 'basic') {
      if (secrets.username !== undefined && secrets.password !== undefined) {
        const answer = await get(base, basic(secrets.username, secrets.password)).catch((err: unknown) => describeError(err));
        if (typeof answer === 'string') checks.push({ name: 'credentials', ok: false, detail: answer });
        else if (answer.status === 200) checks.push({ name: 'credentials', ok: true, detail: `accepted for ${secrets.username}` });
        else checks.push({ name: 'credentials', ok: false, detail: `refused for ${secrets.username} (${answer.status})` });
      } else if (secrets.token !== undefined) {
        checks.push(await staticToken(get, base, secrets.token));
      } else {
        checks.push({ name: 'credentials', ok: false, detail: 'none configured, and the upstream asks for Basic credentials' });
      }
    } else if (challenge) {
      checks.push({ name: 'credentials', ok: false, detail: `the upstream asks for ${challenge.scheme}, which tender does not speak` });
    } else {
      const configured = secrets.username !== undefined || secrets.token !== undefined;
      checks.push({ name: 'credentials', ok: true, detail: configured ? 'configured, not asked for at /v2/' : 'none needed' });
    }
    return report();
  } finally {
    await agent.destroy();
  }
}

async function resolve(host: string, config: UpstreamConfig, network: NetworkOverrides): Promise<ProbeCheck> {
  if (isIP(host)) return { name: 'dns', ok: true, detail: `${host} (an address)` };
  const family = config.addressFamily === 'ipv4' ? 4 : config.addressFamily === 'ipv6' ? 6 : 0;
  const which = family === 0 ? '' : ` IPv${family}`;
  try {
    const resolving = network.lookup ? lookupWith(network.lookup, host, family) : lookup(host, { all: true, family });
    // getaddrinfo cannot be cancelled: a resolver that does not answer is given up on, not waited for.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${config.connectTimeoutMs} ms`)), config.connectTimeoutMs);
    });
    const addresses = await Promise.race([resolving, timeout]).finally(() => clearTimeout(timer));
    if (addresses.length === 0) return { name: 'dns', ok: false, detail: `${host} has no${which} address` };
    const shown = addresses.slice(0, 3).map((a) => a.address);
    return { name: 'dns', ok: true, detail: `${host} → ${shown.join(', ')}${addresses.length > shown.length ? ', …' : ''}` };
  } catch (err) {
    return { name: 'dns', ok: false, detail: `${host}: ${describeError(err)}` };
  }
}

function lookupWith(fn: NonNullable<NetworkOverrides['lookup']>, host: string, family: number): Promise<Array<{ address: string }>> {
  return new Promise((resolve, reject) =>
    fn(host, { all: true, family } as never, ((err: Error | null, addresses: Array<{ address: string }>) => (err ? reject(err) : resolve(addresses))) as never),
  );
}

/** The TLS handshake tender's connections make: its trust roots, client identity and address families. */
function handshake(host: string, port: number, config: UpstreamConfig, network: NetworkOverrides): Promise<ProbeCheck> {
  return new Promise((resolve) => {
    let socket: TLSSocket;
    const done = (check: ProbeCheck): void => {
      socket.destroy();
      resolve(check);
    };
    socket = tlsConnect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      ...(familyOptions(config) as object),
      ...(network.lookup ? { lookup: network.lookup } : {}),
      ...(config.ca !== undefined ? { ca: config.ca } : {}),
      ...(config.clientCert !== undefined ? { cert: config.clientCert, key: config.clientKey } : {}),
      rejectUnauthorized: !config.insecure,
      ALPNProtocols: ['http/1.1'],
    });
    socket.setTimeout(config.connectTimeoutMs, () => done({ name: 'tls', ok: false, detail: `no handshake within ${config.connectTimeoutMs} ms` }));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const name = peer.subject?.CN ?? 'no CN';
      const verified = socket.authorized ? 'verified' : `NOT verified (insecure: true; ${String(socket.authorizationError)})`;
      done({
        name: 'tls',
        ok: true,
        detail: `${socket.getProtocol() ?? 'TLS'}, ${name}, ${verified}, expires ${new Date(peer.valid_to).toISOString().slice(0, 10)}`,
      });
    });
    socket.once('error', (err) => done({ name: 'tls', ok: false, detail: describeError(err) }));
  });
}

async function staticToken(get: (target: string, authorization?: string) => Promise<TextAnswer>, base: string, token: string): Promise<ProbeCheck> {
  try {
    const answer = await get(base, `Bearer ${token}`);
    return answer.status === 200
      ? { name: 'credentials', ok: true, detail: 'the static token is accepted' }
      : { name: 'credentials', ok: false, detail: `the static token is refused (${answer.status})` };
  } catch (err) {
    return { name: 'credentials', ok: false, detail: describeError(err) };
  }
}

interface TextAnswer {
  readonly status: number;
  readonly challenge: string | undefined;
  readonly body: string;
}

async function fetchText(agent: Agent, target: string, authorization: string | undefined, timeoutMs: number): Promise<TextAnswer> {
  const headers: Record<string, string> = { 'user-agent': 'tender doctor', 'accept-encoding': 'identity' };
  if (authorization) headers.authorization = authorization;
  const response = await request(target, { method: 'GET', headers, dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxRealmAnswerBytes) {
      response.body.destroy();
      break;
    }
    chunks.push(chunk);
  }
  const challenge = response.headers['www-authenticate'];
  return { status: response.statusCode, challenge: Array.isArray(challenge) ? challenge[0] : challenge, body: Buffer.concat(chunks).toString('utf8') };
}

function realmUrl(challenge: Challenge): URL | undefined {
  try {
    const url = new URL(challenge.params.realm ?? '');
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    return url;
  } catch {
    return undefined;
  }
}

function hasToken(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as { token?: unknown; access_token?: unknown };
    return (typeof parsed.token === 'string' && parsed.token !== '') || (typeof parsed.access_token === 'string' && parsed.access_token !== '');
  } catch {
    return false;
  }
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
