// Holding back credentials a token realm keeps refusing: Docker Hub and corporate identity providers lock an
// account after repeated failed logins, and every cold pull would otherwise be one more failed login.
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** Refusals in a row (401/403 from the realm to a request carrying the credentials) before they are held back. */
export const refusalsBeforeBackoff = 3;

export class CredentialBackoff {
  private refusals = 0;
  /** Epoch ms until which the credentials are not sent. */
  private until = 0;
  /** A back-off was logged and the credentials have not been accepted since: later back-offs are counted, not logged. */
  private episode = false;

  constructor(
    private readonly upstream: string,
    private readonly backoffMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether the credentials may be sent now; during a back-off tokens are asked for anonymously. */
  allowed(): boolean {
    return this.clock() >= this.until;
  }

  /** The realm refused the credentials. */
  refused(status: number): void {
    this.refusals += 1;
    if (this.backoffMs <= 0 || this.refusals < refusalsBeforeBackoff) return;
    this.until = this.clock() + this.backoffMs;
    // After the back-off one more refusal starts the next one: no fresh series of failed logins per period.
    this.refusals = refusalsBeforeBackoff - 1;
    this.metrics.credentialBackoffs.inc({ upstream: this.upstream });
    if (this.episode) return;
    this.episode = true;
    this.log.warn(
      { upstream: this.upstream, status, refusals: refusalsBeforeBackoff, backoffMs: this.backoffMs, until: new Date(this.until).toISOString() },
      'the token realm refused the configured credentials repeatedly; not sending them for the back-off (tokens asked for anonymously)',
    );
  }

  /** The realm issued a token for the credentials. */
  accepted(): void {
    if (this.episode) this.log.info({ upstream: this.upstream }, 'the token realm accepts the configured credentials again');
    this.reset();
  }

  /** New credentials (a rotated file): they get their own tries at once. */
  reset(): void {
    this.refusals = 0;
    this.until = 0;
    this.episode = false;
  }

  /** For /readyz: what is held back, and until when. */
  problem(): string | undefined {
    if (this.allowed()) return undefined;
    return `upstream ${this.upstream}: the token realm refused the configured credentials ${refusalsBeforeBackoff} times in a row; not sent until ${new Date(this.until).toISOString()}`;
  }
}
