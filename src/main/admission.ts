// Admission wired to the core (issue 14): the one judgement, for the endpoints and for `tender check`.
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { ImageAdmission, type ImageJudgement } from '../cache/image-admission.js';
import type { Router } from '../cache/ports.js';
import type { PullThrough } from '../cache/pull-through.js';
import type { AdmissionConfig } from '../config/admission.js';
import type { Config } from '../config/config.js';
import { configuredAdmissionRoutes, defaultAdmissionDeadlineMs } from '../http/admission-routes.js';
import { defaultAdmissionSettings } from '../http/admission-settings.js';
import { createLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import { commandReplicaId } from './command-replica.js';

/** The parts of the assembled core the judgement asks. */
interface AdmissionParts {
  readonly router: Router;
  readonly pullThrough: PullThrough;
}

/**
 * The one admission judgement (endpoints, `tender check`): the pull's serve policies, then the signature policy's
 * verdict on the digest a pull gets; an image undecided at the deadline follows signatures.onError (deny without it).
 */
export function imageAdmission(config: Config, core: AdmissionParts): ImageAdmission {
  const { mirrorHosts, requireDigest, deadlineMs } = config.admission ?? { ...defaultAdmissionSettings, deadlineMs: defaultAdmissionDeadlineMs };
  const { pullThrough, router } = core;
  return new ImageAdmission(
    {
      router,
      judge: (route, ref) => pullThrough.judge(route, ref),
      signatures: (route, digest, signal) => pullThrough.signatureVerdict(route, digest, { signal }),
    },
    { mirrorHosts, requireDigest, deadlineMs, onUndecided: config.signatures?.onError ?? 'deny' },
  );
}

/** The admission endpoints over the judgement, as the `admission:` section configures them. */
export function admissionRoutes(config: Config, settings: AdmissionConfig, core: AdmissionParts, metrics: Metrics, log: Logger, tls: boolean) {
  return configuredAdmissionRoutes(settings, { judgement: imageAdmission(config, core), metrics, log, tls });
}

/**
 * The HTTPS server's options for a certificate. With a client CA, every TLS handshake asks for a client certificate
 * but none is required (registry clients send none): only /admission/* looks at it (http/admission-callers.ts).
 */
export function httpsOptions(certificate: { cert: Buffer; key: Buffer } | undefined, clientCa: string | undefined): HttpsServerOptions | undefined {
  if (!certificate) return undefined;
  const mutual = clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: false };
  return { cert: certificate.cert, key: certificate.key, ...mutual };
}

/** How main.ts assembles a core for a command (its own `assemble`, handed in: this file cannot import main.ts). */
type Assemble = (config: Config, log: Logger, metrics: Metrics) => Promise<AdmissionParts & { close(): Promise<void> }>;

/** `tender check`'s judgement over the cache and upstreams of `config`, beside a serving tender or alone. */
export async function openImageCheckWith(
  config: Config,
  assemble: Assemble,
): Promise<{ check(image: string): Promise<ImageJudgement>; close(): Promise<void> }> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  // A replica id of its own (command-replica.ts): a serving tender on the same volume writes under the configured one.
  const own = { ...config, replicaId: commandReplicaId(config.replicaId, 'check') };
  const core = await assemble(own, log, new Metrics({ processMetrics: false }));
  const admission = imageAdmission(config, core);
  return { check: (image) => admission.judge(image), close: () => core.close() };
}
