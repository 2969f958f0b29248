// What the admission routes need of tender_admission_decisions_total (Metrics.admissionDecisions in src/metrics.ts).
import type { AdmissionVerdict } from './admission-decision.js';
import type { AdmissionEndpoint } from './image-judge.js';

/** A prom-client Counter with the labels endpoint and verdict, or anything that counts the same. */
export interface AdmissionDecisionCounter {
  inc(labels: { endpoint: AdmissionEndpoint; verdict: AdmissionVerdict }): void;
}
