// The admission endpoints as a hono sub-app: POST /admission/imagepolicy (ImagePolicyWebhook) and POST /admission/validate (validating webhook).
import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import type { AdmissionConfig } from '../config/admission.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { readReviewJson, ReviewInputError, statusBody } from './admission-body.js';
import { AdmissionCallers } from './admission-callers.js';
import { decideAdmission, describeUse, type AdmissionDecision, type ReviewSubject } from './admission-decision.js';
import type { AdmissionDecisionCounter } from './admission-metrics.js';
import { admissionReviewResponse, parseAdmissionReview } from './admission-review.js';
import type { AdmissionSettings } from './admission-settings.js';
import type { AdmissionEndpoint, ImageJudge, ImageVerdict } from './image-judge.js';
import { imageReviewResponse, parseImageReview } from './image-review.js';

export interface AdmissionRoutesDeps {
  readonly judge: ImageJudge;
  readonly settings: AdmissionSettings;
  readonly decisions: AdmissionDecisionCounter;
  readonly log: Logger;
  /** Largest review read (default 8 MiB). An UPDATE carries the object twice; the API server takes objects up to 3 MiB. */
  readonly maxBodyBytes?: number;
  /** Time for all judgements of one review (default 8 s; answered at most a second later): under the webhook's timeoutSeconds (10 in deploy/admission). */
  readonly deadlineMs?: number;
  /** Judgements of one review in flight at once (default 8). */
  readonly concurrency?: number;
  /** When set, only callers it identifies (the API server's client certificate or token) are answered; others get 401. */
  readonly callers?: AdmissionCallers;
}

export const defaultMaxReviewBytes = 8 * 1024 * 1024;
export const defaultAdmissionDeadlineMs = 8_000;

/** Facts of the request for the decision log line, beyond the subject. */
interface RequestFacts {
  readonly uid?: string;
  readonly operation?: string;
  readonly subResource?: string | undefined;
  readonly user?: string | undefined;
  readonly dryRun?: boolean;
  /** Who called: `certificate:<CN>` or `token:<name>` when callers authenticate. */
  readonly caller?: string | undefined;
}

type AdmissionEnv = { Variables: { caller: string | undefined } };

export function createAdmissionRoutes(deps: AdmissionRoutesDeps): Hono<AdmissionEnv> {
  const app = new Hono<AdmissionEnv>();
  const maxBytes = deps.maxBodyBytes ?? defaultMaxReviewBytes;
  const options = { judge: deps.judge, settings: deps.settings, deadlineMs: deps.deadlineMs ?? defaultAdmissionDeadlineMs, concurrency: deps.concurrency ?? 8 };

  const { callers } = deps;
  if (callers) {
    app.use('/admission/*', async (c, next) => {
      // The node adapter's bindings: the socket says whether TLS verified a client certificate.
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      const outcome = incoming ? callers.identify(incoming.socket, c.req.header('authorization')) : { ok: false as const, reason: 'no connection' };
      if (!outcome.ok) {
        const endpoint = c.req.path.endsWith('/validate') ? 'validate' : 'imagepolicy';
        return refuse(c, endpoint, new ReviewInputError(401, outcome.reason));
      }
      c.set('caller', outcome.caller);
      return next();
    });
  }

  app.post('/admission/imagepolicy', (c) =>
    answer(c, 'imagepolicy', async (body) => {
      const subject = parseImageReview(body);
      const decision = await decideAdmission(subject, { ...options, signal: c.req.raw.signal });
      record(deps, subject, decision, { caller: c.get('caller') });
      return imageReviewResponse(decision);
    }),
  );

  app.post('/admission/validate', (c) =>
    answer(c, 'validate', async (body) => {
      const review = parseAdmissionReview(body);
      const decision = await decideAdmission(review.subject, { ...options, signal: c.req.raw.signal });
      const facts = {
        uid: review.uid,
        operation: review.operation,
        subResource: review.subResource,
        user: review.user,
        dryRun: review.dryRun,
        caller: c.get('caller'),
      };
      record(deps, review.subject, decision, facts);
      if (review.unjudged) {
        deps.log.warn(
          { endpoint: 'validate', ...facts, kind: review.subject.kind, reason: review.unjudged },
          'admission review of a kind tender does not judge: admitted',
        );
        return admissionReviewResponse(review.uid, { ...decision, auditAnnotations: { ...decision.auditAnnotations, unjudged: review.unjudged } });
      }
      if (review.subject.images.length === 0) {
        deps.log.debug({ endpoint: 'validate', ...facts, kind: review.subject.kind, unchanged: review.unchanged }, 'admission review with no new image');
      }
      return admissionReviewResponse(review.uid, decision);
    }),
  );

  // The API server only POSTs; anything else is a client that took the wrong turn.
  for (const path of ['/admission/imagepolicy', '/admission/validate']) {
    app.all(path, (c) =>
      refuse(c, path.slice('/admission/'.length) as AdmissionEndpoint, new ReviewInputError(405, `${c.req.method} is not allowed: POST a review`)),
    );
  }
  return app;

  async function answer(c: Context<AdmissionEnv>, endpoint: AdmissionEndpoint, handle: (body: unknown) => Promise<Record<string, unknown>>): Promise<Response> {
    try {
      let body: unknown;
      try {
        body = await readReviewJson(c.req.raw, maxBytes);
      } catch (err) {
        if (err instanceof ReviewInputError) throw err;
        // The stream broke (the caller hung up mid-body): nothing to judge.
        throw new ReviewInputError(400, `review body could not be read: ${(err as Error).message}`);
      }
      return c.json(await handle(body), 200);
    } catch (err) {
      if (err instanceof ReviewInputError) return refuse(c, endpoint, err);
      throw err;
    }
  }

  function refuse(c: Context<AdmissionEnv>, endpoint: AdmissionEndpoint, error: ReviewInputError): Response {
    deps.log.info({ endpoint, status: error.status, reason: error.message }, 'admission review refused');
    const headers: Record<string, string> =
      error.status === 405 ? { allow: 'POST' } : error.status === 401 ? { 'www-authenticate': 'Bearer realm="tender admission"' } : {};
    return c.json(statusBody(error), error.status, headers);
  }
}

/**
 * The routes as the `admission:` section configures them, over the judgement: the series at 0, the API server's
 * credentials checked when any are configured, and the review's deadline (the judgement decides by it; the
 * review answers at most a second later).
 */
export function configuredAdmissionRoutes(
  settings: AdmissionConfig,
  deps: { judgement: { judge(image: string, signal: AbortSignal): Promise<ImageVerdict> }; metrics: Metrics; log: Logger; tls: boolean },
): Hono<AdmissionEnv> {
  deps.metrics.initializeAdmission();
  if (!deps.tls) deps.log.warn('admission endpoints are served over plain HTTP: the API server calls webhooks over HTTPS only (set tls)');
  const authenticated = settings.clientCa !== undefined || settings.tokens.length > 0;
  return createAdmissionRoutes({
    judge: async (image, context) => {
      const { verdict, reason } = await deps.judgement.judge(image, context.signal);
      return { verdict, reason };
    },
    settings,
    decisions: deps.metrics.admissionDecisions,
    log: deps.log,
    deadlineMs: settings.deadlineMs,
    ...(authenticated ? { callers: new AdmissionCallers({ clientCa: settings.clientCa, tokens: settings.tokens }) } : {}),
  });
}

/** One log line and one count per distinct image: who asked, for what, and what tender answered. */
function record(deps: AdmissionRoutesDeps, subject: ReviewSubject, decision: AdmissionDecision, facts: RequestFacts): void {
  for (const d of decision.images) {
    deps.decisions.inc({ endpoint: subject.endpoint, verdict: d.verdict });
    deps.log.info(
      {
        endpoint: subject.endpoint,
        ...facts,
        kind: subject.kind,
        namespace: subject.namespace,
        name: subject.name,
        image: d.image,
        containers: d.uses.map(describeUse).filter((s) => s !== ''),
        verdict: d.verdict,
        reason: d.reason,
        allowed: decision.allowed,
      },
      'admission decision',
    );
  }
}
