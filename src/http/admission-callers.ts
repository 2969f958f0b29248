// Who may call /admission/*: the API server, by a client certificate from the configured CA (mutual TLS) or a bearer
// token; both are what a kubeconfig's `client-certificate`/`client-key` and `token`/`tokenFile` make it send.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface AdmissionCallerSettings {
  /** PEM certificates of the CAs that issue the API server's client certificate (the TLS server asks for one with them). */
  readonly clientCa: string | undefined;
  readonly tokens: ReadonlyArray<{ readonly name: string; readonly token: string }>;
}

export type CallerOutcome = { readonly ok: true; readonly caller: string } | { readonly ok: false; readonly reason: string };

const clientAuthUsage = '1.3.6.1.5.5.7.3.2';

export class AdmissionCallers {
  private readonly tokens: ReadonlyArray<{ readonly name: string; readonly digest: Buffer }>;
  private readonly authorities: readonly X509Certificate[];

  constructor(settings: AdmissionCallerSettings) {
    this.tokens = settings.tokens.map((t) => ({ name: t.name, digest: sha256(t.token) }));
    this.authorities =
      (settings.clientCa ?? '').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)?.map((pem) => new X509Certificate(pem)) ?? [];
  }

  /** A client certificate the checks below accept, else a bearer token (compared by digest, in constant time). */
  identify(socket: Socket, authorization: string | undefined): CallerOutcome {
    const tls = socket as Partial<TLSSocket>;
    const peer = this.authorities.length > 0 && tls.encrypted ? tls.getPeerCertificate?.() : undefined;
    let refusedCertificate: string | undefined;
    if (peer?.raw !== undefined) {
      refusedCertificate = this.certificateProblem(tls as TLSSocket, new X509Certificate(peer.raw));
      if (refusedCertificate === undefined) {
        const cn = (peer.subject as Record<string, string | string[] | undefined> | undefined)?.CN;
        return { ok: true, caller: `certificate:${(Array.isArray(cn) ? cn[0] : cn) ?? 'unnamed'}` };
      }
    }
    const space = authorization?.indexOf(' ') ?? -1;
    if (authorization && space > 0 && authorization.slice(0, space).toLowerCase() === 'bearer') {
      const digest = sha256(authorization.slice(space + 1).trim());
      const token = this.tokens.find((t) => timingSafeEqual(t.digest, digest));
      if (token) return { ok: true, caller: `token:${token.name}` };
      return { ok: false, reason: 'the bearer token is not one of admission.tokens' };
    }
    if (refusedCertificate !== undefined) return { ok: false, reason: `the client certificate was not accepted: ${refusedCertificate}` };
    const ways = [this.authorities.length > 0 ? 'a client certificate from admission.clientCa' : '', this.tokens.length > 0 ? 'a bearer token' : '']
      .filter((w) => w !== '')
      .join(' or ');
    return { ok: false, reason: `authentication required: ${ways}` };
  }

  /**
   * Why `leaf` is not the API server's certificate, or undefined. OpenSSL's verdict (`authorized`) holds for a full
   * handshake only: on a resumed session Node reports `authorized: true` without verifying anything, whoever
   * resumed it (a client with no certificate included). So the certificate the session carries is checked here
   * too: issued and signed by one of the configured CAs, valid now, and not limited to uses other than clients'.
   */
  private certificateProblem(socket: TLSSocket, leaf: X509Certificate): string | undefined {
    if (!socket.isSessionReused() && !socket.authorized) return String(socket.authorizationError ?? 'not verified');
    if (!this.authorities.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) return 'not issued by a CA in admission.clientCa';
    const now = Date.now();
    if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) return 'expired or not yet valid';
    const usages = leaf.keyUsage;
    if (usages !== undefined && usages.length > 0 && !usages.includes(clientAuthUsage)) return 'not a client authentication certificate';
    return undefined;
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
