// The series of issue 16's fewer and safer upstream calls, part of Metrics (metrics.ts): tags answered 404 from
// memory, and the upstream credentials held back after refusals or re-read after their files changed.
import { Counter, type Registry } from 'prom-client';

export function missingTagHitsCounter(registry: Registry): Counter<'upstream'> {
  return new Counter({
    name: 'tender_missing_tag_hits_total',
    help: 'Tag requests answered 404 from the memory of a 404 upstream gave within missingTagTtl, without asking upstream again.',
    labelNames: ['upstream'] as const,
    registers: [registry],
  });
}

export function credentialBackoffsCounter(registry: Registry): Counter<'upstream'> {
  return new Counter({
    name: 'tender_upstream_credential_backoffs_total',
    help: 'Times the token realm refused the configured credentials 3 times in a row and tender stopped sending them for credentialBackoff.',
    labelNames: ['upstream'] as const,
    registers: [registry],
  });
}

export function credentialReloadsCounter(registry: Registry): Counter<'upstream' | 'changed'> {
  return new Counter({
    name: 'tender_upstream_credential_reloads_total',
    help: 'Upstream credential files (passwordFile, tokenFile, ca, clientCert, clientKey) re-read after they changed, by what changed (secrets|tls).',
    labelNames: ['upstream', 'changed'] as const,
    registers: [registry],
  });
}
