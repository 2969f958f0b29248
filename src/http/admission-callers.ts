// Who may call /admission/*: the API server, by a client certificate from the configured CA (mutual TLS) or a bearer
// token; both are what a kubeconfig's `client-certificate`/`client-key` and `token`/`tokenFile` make it send.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';

export interface AdmissionCallerSettings {
  /** Client certificates are verified against the server's client CA (the TLS server was started with it). */
  readonly clientCertificates: boolean;
  readonly tokens: ReadonlyArray<{ readonly name: string; readonly token: string }>;
}

export type CallerOutcome = { readonly ok: true; readonly caller: string } | { readonly ok: false; readonly reason: string };

export class AdmissionCallers {
  private readonly tokens: ReadonlyArray<{ readonly name: string; readonly digest: Buffer }>;

  constructor(private readonly settings: AdmissionCallerSettings) {
    this.tokens = settings.tokens.map((t) => ({ name: t.name, digest: sha256(t.token) }));
  }

  /**
   * A verified client certificate wins (the TLS layer checked it against the CA; a certificate it could not verify
   * is no identity), then a bearer token, compared by digest in constant time.
   */
  identify(socket: Socket, authorization: string | undefined): CallerOutcome {
    const tls = socket as Partial<TLSSocket>;
    if (this.settings.clientCertificates && tls.encrypted && tls.authorized === true) {
      const subject = tls.getPeerCertificate?.()?.subject as Record<string, string | string[] | undefined> | undefined;
      const cn = subject?.CN;
      return { ok: true, caller: `certificate:${(Array.isArray(cn) ? cn[0] : cn) ?? 'unnamed'}` };
    }
    const space = authorization?.indexOf(' ') ?? -1;
    if (authorization && space > 0 && authorization.slice(0, space).toLowerCase() === 'bearer') {
      const digest = sha256(authorization.slice(space + 1).trim());
      const token = this.tokens.find((t) => timingSafeEqual(t.digest, digest));
      if (token) return { ok: true, caller: `token:${token.name}` };
      return { ok: false, reason: 'the bearer token is not one of admission.tokens' };
    }
    const presented = tls.encrypted && Object.keys(tls.getPeerCertificate?.() ?? {}).length > 0;
    if (this.settings.clientCertificates && presented) {
      return { ok: false, reason: `the client certificate was not accepted: ${String(tls.authorizationError ?? 'not verified')}` };
    }
    const ways = [this.settings.clientCertificates ? 'a client certificate from admission.clientCa' : '', this.tokens.length > 0 ? 'a bearer token' : '']
      .filter((w) => w !== '')
      .join(' or ');
    return { ok: false, reason: `authentication required: ${ways}` };
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
