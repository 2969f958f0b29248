// The admission decision counter, defined here until src/metrics.ts takes it in (as a field of Metrics, same name and labels).
import { Counter, type Registry } from 'prom-client';
import type { AdmissionVerdict } from './admission-decision.js';
import type { AdmissionEndpoint } from './image-judge.js';

export type AdmissionDecisionLabels = 'endpoint' | 'verdict';

/** What the admission routes need of the counter: a Counter from prom-client, or anything that counts the same. */
export interface AdmissionDecisionCounter {
  inc(labels: { endpoint: AdmissionEndpoint; verdict: AdmissionVerdict }): void;
}

export function createAdmissionDecisionsCounter(registry: Registry): Counter<AdmissionDecisionLabels> {
  return new Counter({
    name: 'tender_admission_decisions_total',
    help: 'Admission decisions, one per distinct image of a review, by endpoint (imagepolicy|validate) and verdict (allow|deny|warn|exempt|break-glass).',
    labelNames: ['endpoint', 'verdict'] as const,
    registers: [registry],
  });
}
