// The signature policy's logs and counts: one line per digest and outcome, not one per request; closed metric labels.
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Route } from './ports.js';
import { countedVerdicts, type SignatureVerdict } from './signature-verdict.js';

export class SignatureReports {
  /** Digests whose refusal (or outage) was logged lately: one line per digest and reason, not one per request. */
  private readonly logged = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 });

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The series dashboards and alerts count on, at 0 from the start (a counter born at its first increment has no earlier sample). */
  initialize(policies: readonly string[]): void {
    for (const policy of policies) for (const verdict of countedVerdicts) this.metrics.signatureVerdicts.inc({ policy, verdict }, 0);
  }

  count(verdict: SignatureVerdict): void {
    if (verdict.policy === undefined || verdict.verdict === 'exempt' || verdict.verdict === 'unchecked') return;
    this.metrics.signatureVerdicts.inc({ policy: verdict.policy, verdict: verdict.verdict });
  }

  /** One log line per digest and outcome: refusals, warnings and outages; fresh verifications at info. */
  report(route: Route, verdict: SignatureVerdict): void {
    const fields = { policy: verdict.policy, upstream: route.upstream.name, repository: route.repository, digest: verdict.digest };
    if (verdict.verdict === 'verified' && !verdict.cached) {
      this.log.info({ ...fields, key: verdict.keyId, format: verdict.signatures.find((s) => s.verified)?.format }, 'signature verified');
      return;
    }
    if (!verdict.refusal || !this.once(`${verdict.verdict}:${verdict.policy}:${verdict.digest}`)) return;
    const signatures = verdict.signatures.slice(0, 8).map((s) => ({ source: s.source, format: s.format, reason: s.reason, detail: s.detail }));
    const message = {
      refused: 'signature policy refused a manifest',
      warned: 'signature policy would refuse a manifest (warn mode: served)',
      'fail-open': 'signatures could not be fetched: served (onError: allow)',
      unavailable: 'signatures could not be fetched: refused (onError: deny)',
    }[verdict.verdict as 'refused' | 'warned' | 'fail-open' | 'unavailable'];
    this.log.warn({ ...fields, verdict: verdict.verdict, reason: verdict.reason, refusal: verdict.refusal, signatures }, message);
  }

  once(key: string): boolean {
    if (this.logged.has(key)) return false;
    this.logged.set(key, true);
    return true;
  }
}
