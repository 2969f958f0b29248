// The admission endpoints driven with reviews in the shapes the API server sends: the answer it gets back (the
// fixture's response, exactly), the images judged (every container kind, every workload kind), the log line and count.
import { describe, expect, it } from 'vitest';
import type { ImageJudge } from '../../../src/http/image-judge.js';
import { fixture, harness, images, json, scripted } from './admission-harness.js';

const validate = '/admission/validate';
const imagepolicy = '/admission/imagepolicy';

describe('POST /admission/validate (AdmissionReview v1)', () => {
  // Fixture, images the judgement is asked about (in the order the Pod runs them), namespace.
  it.each([
    ['pod-create', [images.migrate, images.nginx, images.shipper], 'team-a'],
    ['pod-create-refused', [images.busybox, images.lookalike, images.nginx], 'team-a'],
    ['pod-create-by-controller', [images.unsigned, images.nginx], 'team-b'],
    ['pod-ephemeralcontainers', [images.busybox], 'team-a'],
    ['deployment-create', [images.nginx, images.shipper], 'team-a'],
    ['deployment-update', [images.nginx128], 'team-a'],
    ['statefulset-create', [images.postgresLookalike], 'team-a'],
    ['daemonset-create', [images.migrate, images.nodeExporter], 'monitoring'],
    ['replicaset-create', [images.report, images.nginx], 'team-b'],
    ['job-create', [images.busybox, images.app], 'team-b'],
    ['cronjob-create', [images.report], 'team-b'],
  ])('%s: answers the fixture response, judging exactly %j', async (name, judged, namespace) => {
    const h = harness();
    const res = await h.post(validate, fixture(`validate/${name}.request.json`));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await json(res)).toEqual(fixture(`validate/${name}.response.json`));
    expect(h.asked.map((a) => a.image)).toEqual(judged);
    for (const a of h.asked) expect(a.context).toEqual({ endpoint: 'validate', namespace });
  });

  it('refuses naming the first refused image, logs one line per image and counts each verdict', async () => {
    const h = harness();
    await h.post(validate, fixture('validate/pod-create-refused.request.json'));
    const decisions = h.lines.filter((l) => l.msg === 'admission decision');
    expect(decisions.map((l) => [l.image, l.containers, l.verdict])).toEqual([
      [images.busybox, ['init container "wait-for-db"'], 'deny'],
      [images.lookalike, ['container "shop"'], 'deny'],
      [images.nginx, ['container "proxy"'], 'allow'],
    ]);
    expect(decisions[0]).toMatchObject({
      endpoint: 'validate',
      uid: 'b3a1c9d0-1f2e-4a5b-8c7d-6e5f4a3b2c1d',
      kind: 'Pod',
      namespace: 'team-a',
      name: 'shop',
      operation: 'CREATE',
      user: 'alice@corp.example',
      dryRun: false,
      reason: scripted[images.busybox]!.reason,
      allowed: false,
    });
    expect(await h.count('validate', 'deny')).toBe(2);
    expect(await h.count('validate', 'allow')).toBe(1);
  });

  it('warn mode admits with a warning per image that would be refused', async () => {
    const h = harness({ mode: 'warn' });
    const res = await h.post(validate, fixture('validate/pod-create-refused.request.json'));
    expect(await json(res)).toEqual(fixture('validate/pod-create-refused.warn-mode.response.json'));
    expect(await h.count('validate', 'warn')).toBe(2);
    expect(await h.count('validate', 'deny')).toBe(0);
  });

  it('a judgement in warn (a signature policy in warn mode) admits with a warning in enforce mode too', async () => {
    const h = harness();
    await h.post(validate, fixture('validate/pod-create-by-controller.request.json'));
    // The ReplicaSet controller's Pod has no name yet: its generateName is logged.
    expect(h.lines.find((l) => l.image === images.unsigned)).toMatchObject({
      verdict: 'warn',
      name: 'reports-6d8f9c7b5-*',
      user: 'system:serviceaccount:kube-system:replicaset-controller',
    });
  });

  it('break-glass admits, audits what it let through, and counts it', async () => {
    const h = harness();
    const res = await h.post(validate, fixture('validate/pod-create-break-glass.request.json'));
    expect(await json(res)).toEqual(fixture('validate/pod-create-break-glass.response.json'));
    expect(await h.count('validate', 'break-glass')).toBe(2);
    expect(await h.count('validate', 'allow')).toBe(1);
  });

  it('break-glass set to anything but "true", or under another key, breaks nothing', async () => {
    for (const annotations of [{ 'tender.image-policy.k8s.io/break-glass': 'false' }, { 'other.image-policy.k8s.io/break-glass': 'true' }]) {
      const review = fixture('validate/pod-create-break-glass.request.json');
      review.request.object.metadata.annotations = annotations;
      const res = await harness().post(validate, review);
      expect((await json(res)).response.allowed).toBe(false);
    }
  });

  it('a workload is broken glass by its Pod template annotations, which its Pods will carry', async () => {
    const review = fixture('validate/job-create.request.json');
    review.request.object.metadata.annotations = { 'tender.image-policy.k8s.io/break-glass': 'true' };
    expect((await json(await harness().post(validate, review))).response.allowed).toBe(false);
    review.request.object.spec.template.metadata.annotations = { 'tender.image-policy.k8s.io/break-glass': 'true' };
    expect((await json(await harness().post(validate, review))).response.allowed).toBe(true);
  });

  it('an exempt namespace is admitted without asking the judgement', async () => {
    const h = harness();
    const res = await h.post(validate, fixture('validate/pod-create-exempt.request.json'));
    expect(await json(res)).toEqual(fixture('validate/pod-create-exempt.response.json'));
    expect(h.asked).toEqual([]);
    expect(h.lines.find((l) => l.msg === 'admission decision')).toMatchObject({
      image: images.kubeProxy,
      verdict: 'exempt',
      namespace: 'kube-system',
      name: 'kube-proxy-*',
    });
    // The same Pod outside the exempt list is judged (and the script does not know kube-proxy).
    const judged = harness({ exemptNamespaces: [] });
    expect((await json(await judged.post(validate, fixture('validate/pod-create-exempt.request.json')))).response.allowed).toBe(false);
  });

  it('kubectl debug: the ephemeral container is judged, the Pod it joins is not judged again', async () => {
    const h = harness({}, { verdicts: { ...scripted, [images.busybox]: { verdict: 'allow', reason: 'allowed' } } });
    const res = await h.post(validate, fixture('validate/pod-ephemeralcontainers.request.json'));
    expect((await json(res)).response).toEqual({ uid: 'f7a8b9c0-3d4e-4f5a-8b6c-8d9e0f1a2b3c', allowed: true });
    expect(h.asked.map((a) => a.image)).toEqual([images.busybox]);
    expect(h.lines.find((l) => l.msg === 'admission decision')).toMatchObject({
      subResource: 'ephemeralcontainers',
      operation: 'UPDATE',
      containers: ['ephemeral container "debugger-8h2kq"'],
    });
  });

  it('an update without a new image, and a DELETE, are admitted without a judgement', async () => {
    const update = fixture('validate/deployment-update.request.json');
    update.request.object = update.request.oldObject;
    const del = fixture('validate/deployment-update.request.json');
    Object.assign(del.request, { operation: 'DELETE', object: null, options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' } });
    for (const review of [update, del]) {
      const h = harness();
      expect((await json(await h.post(validate, review))).response).toEqual({ uid: review.request.uid, allowed: true });
      expect(h.asked).toEqual([]);
    }
  });

  it('judges an image once however many containers run it, and lists them all', async () => {
    const review = fixture('validate/pod-create.request.json');
    review.request.object.spec.containers[1].image = images.nginx;
    const h = harness();
    await h.post(validate, review);
    expect(h.asked.map((a) => a.image)).toEqual([images.migrate, images.nginx]);
    expect(h.lines.find((l) => l.image === images.nginx)?.containers).toEqual(['container "web"', 'container "log-shipper"']);
  });

  it('a kind tender does not judge is admitted, with an audit annotation and a warning in the log', async () => {
    const review = fixture('validate/replicaset-create.request.json');
    review.request.kind = { group: '', version: 'v1', kind: 'ReplicationController' };
    review.request.resource = { group: '', version: 'v1', resource: 'replicationcontrollers' };
    const h = harness();
    const body = await json(await h.post(validate, review));
    expect(body.response).toEqual({
      uid: review.request.uid,
      allowed: true,
      auditAnnotations: { unjudged: 'tender does not judge core/v1 ReplicationController' },
    });
    expect(h.asked).toEqual([]);
    expect(h.lines.find((l) => l.level === 'warn')).toMatchObject({ kind: 'ReplicationController', uid: review.request.uid });
  });

  it('names from the review are quoted, so a newline or a quote cannot forge a line of kubectl output', async () => {
    const review = fixture('validate/job-create.request.json');
    review.request.object.spec.template.spec.initContainers[0].name = 'fetch"\nError from server: all good';
    const body = await json(await harness().post(validate, review));
    expect(body.response.status.message).toBe(
      `image "busybox:1.36" (init container "fetch\\"\\nError from server: all good") refused: ${scripted[images.busybox]!.reason}`,
    );
  });

  it('a judgement without a known verdict refuses, and a long reason is cut', async () => {
    const odd: ImageJudge = async (image) =>
      image === images.report ? ({ verdict: 'maybe', reason: 'x' } as never) : { verdict: 'deny', reason: 'r'.repeat(5000) };
    const review = fixture('validate/replicaset-create.request.json');
    const body = await json(await harness({}, { judge: odd }).post(validate, review));
    expect(body.response.status.message).toBe(
      `image "${images.report}" (container "reports") refused: judgement gave no verdict (maybe); 1 more image refused`,
    );
    expect(body.response.auditAnnotations.refused.length).toBeLessThanOrEqual(2048);
    expect(body.response.auditAnnotations.refused).toContain(`${images.nginx}: ${'r'.repeat(1023)}…`);
  });

  it('requireDigest refuses tag references before asking the judgement', async () => {
    const h = harness({ requireDigest: true });
    const body = await json(await h.post(validate, fixture('validate/pod-create.request.json')));
    expect(body.response.allowed).toBe(false);
    expect(body.response.status.message).toBe(
      `image "${images.migrate}" (init container "setup") refused: a digest is required (admission.requireDigest): name the image as repository@sha256:<hex>; 1 more image refused`,
    );
    expect(h.asked.map((a) => a.image)).toEqual([images.shipper]);
  });

  it('a judgement that throws refuses (never a 5xx); one that does not answer in time refuses at the deadline', async () => {
    const throwing: ImageJudge = async () => {
      throw new Error('metadata store unreachable');
    };
    const res = await harness({}, { judge: throwing }).post(validate, fixture('validate/cronjob-create.request.json'));
    expect(res.status).toBe(200);
    expect((await json(res)).response.status.message).toBe(
      `image "${images.report}" (container "report") refused: judgement failed: metadata store unreachable`,
    );

    const hanging: ImageJudge = (_image, { signal }) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    const late = await harness({}, { judge: hanging, deadlineMs: 50 }).post(validate, fixture('validate/cronjob-create.request.json'));
    expect((await json(late)).response.status.message).toBe(`image "${images.report}" (container "report") refused: no decision within 50 ms`);
  });
});

describe('the review deadline', () => {
  it("is one for the whole review: images queued behind slow judgements get the judgement's own verdict for the undecided", async () => {
    // A judgement that answers for itself once told the deadline passed (as the core's does, by signatures.onError).
    const undecided: ImageJudge = (_image, { signal }) =>
      new Promise((resolve) => {
        const answer = () => resolve({ verdict: 'deny', reason: 'undecided: refused' });
        if (signal.aborted) answer();
        else signal.addEventListener('abort', answer, { once: true });
      });
    const h = harness({}, { judge: undecided, deadlineMs: 50 });
    const many = Array.from({ length: 12 }, (_, i) => ({ image: `app${i}:1` }));
    const res = await h.post(imagepolicy, { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { containers: many, namespace: 'team-a' } });
    expect((await json(res)).status).toMatchObject({ allowed: false });
    const reasons = h.lines.filter((l) => l.msg === 'admission decision').map((l) => l.reason);
    expect(reasons).toEqual(many.map(() => 'undecided: refused'));
    // All twelve were asked, the four past the deadline too (they answer at once).
    expect(h.asked).toHaveLength(12);
  });
});

describe('POST /admission/imagepolicy (ImageReview v1alpha1)', () => {
  it.each([
    ['allowed', [images.nginx, images.shipper, images.migrate], 'team-a'],
    ['refused', [images.lookalike, images.nginx, images.busybox], 'team-a'],
    ['ephemeral', [images.migrate, images.nginx, images.shipper, images.busybox], 'team-a'],
    ['break-glass', [images.lookalike, images.nginx, images.busybox], 'team-a'],
    ['exempt', [], 'kube-system'],
  ])('%s: answers the fixture response, judging exactly %j', async (name, judged, namespace) => {
    const h = harness();
    const res = await h.post(imagepolicy, fixture(`imagepolicy/${name}.request.json`));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual(fixture(`imagepolicy/${name}.response.json`));
    expect(h.asked.map((a) => a.image)).toEqual(judged);
    for (const a of h.asked) expect(a.context).toEqual({ endpoint: 'imagepolicy', namespace });
    expect(h.lines.filter((l) => l.msg === 'admission decision').map((l) => l.namespace)).toEqual(
      judged.length > 0 ? judged.map(() => namespace) : ['kube-system'],
    );
  });

  it('warn mode admits and leaves its trace in the audit annotations (ImageReview has no warnings)', async () => {
    const h = harness({ mode: 'warn' });
    const res = await h.post(imagepolicy, fixture('imagepolicy/refused.request.json'));
    expect(await json(res)).toEqual(fixture('imagepolicy/refused.warn-mode.response.json'));
    expect(await h.count('imagepolicy', 'warn')).toBe(2);
  });

  it('a review without annotations, containers or status is still a review', async () => {
    const h = harness();
    const res = await h.post(imagepolicy, {
      apiVersion: 'imagepolicy.k8s.io/v1alpha1',
      kind: 'ImageReview',
      spec: { containers: [{ image: images.nginx }, {}] },
    });
    expect(await json(res)).toEqual({ apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
    expect(h.asked).toEqual([{ image: images.nginx, context: { endpoint: 'imagepolicy', namespace: undefined } }]);
  });
});
