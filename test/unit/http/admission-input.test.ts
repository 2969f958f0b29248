// Hostile and broken reviews: each is refused with a 4xx and a Kubernetes Status naming the problem, read within
// its size cap, logged once, never judged and never a 5xx.
import { describe, expect, it } from 'vitest';
import { fixture, harness, images, json } from './admission-harness.js';

const validate = '/admission/validate';
const imagepolicy = '/admission/imagepolicy';

async function refusal(res: Response, status: number, message: RegExp | string): Promise<void> {
  expect(res.status).toBe(status);
  const body = await json(res);
  expect(body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status });
  if (typeof message === 'string') expect(body.message).toBe(message);
  else expect(body.message).toMatch(message);
}

const podReview = () => fixture('validate/pod-create.request.json');
const containers = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, image: `${images.nginx}` }));

describe('admission reviews tender refuses to read', () => {
  it.each([
    ['not JSON', validate, '{"apiVersion": "admission.k8s.io/v1",', /^review body is not JSON: /],
    ['empty', imagepolicy, '', /^review body is not JSON: /],
    ['JSON null', validate, 'null', 'not an admission.k8s.io/v1 AdmissionReview: (body): Invalid input: expected object, received null'],
    ['a JSON array', imagepolicy, '[]', /^not an ImageReview: \(body\): /],
    [
      'admission.k8s.io/v1beta1',
      validate,
      { ...podReview(), apiVersion: 'admission.k8s.io/v1beta1' },
      /^not an admission.k8s.io\/v1 AdmissionReview: apiVersion: apiVersion must be admission.k8s.io\/v1/,
    ],
    ['another kind', validate, { ...podReview(), kind: 'ImageReview' }, 'not an admission.k8s.io/v1 AdmissionReview: kind: kind must be AdmissionReview'],
    [
      'an ImageReview at the validating endpoint',
      validate,
      fixture('imagepolicy/allowed.request.json'),
      /^not an admission.k8s.io\/v1 AdmissionReview: apiVersion: /,
    ],
    [
      'an AdmissionReview at the ImagePolicyWebhook endpoint',
      imagepolicy,
      podReview(),
      /^not an ImageReview: apiVersion: apiVersion must be imagepolicy.k8s.io\/v1alpha1/,
    ],
    ['no request', validate, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /^not an admission.k8s.io\/v1 AdmissionReview: request: /],
  ])('%s: 400', async (_name, path, body, message) => {
    const h = harness();
    await refusal(await h.post(path, body), 400, message);
    expect(h.asked).toEqual([]);
    expect(h.lines.filter((l) => l.msg === 'admission review refused')).toHaveLength(1);
  });

  it.each([
    ['no uid', (r: any) => delete r.request.uid, /^not an admission.k8s.io\/v1 AdmissionReview: request.uid: /],
    ['an empty uid', (r: any) => (r.request.uid = ''), /request.uid: /],
    ['a uid of 1000 characters', (r: any) => (r.request.uid = 'u'.repeat(1000)), /request.uid: /],
    ['an unknown operation', (r: any) => (r.request.operation = 'PATCH'), /request.operation: /],
    ['a namespace that is not one', (r: any) => (r.request.namespace = '../etc'), /request.namespace: not a namespace name/],
    ['containers that are not a list', (r: any) => (r.request.object.spec.containers = { web: 'nginx' }), /^request.object.spec.containers: /],
    ['an image that is not a string', (r: any) => (r.request.object.spec.containers[0].image = 42), /^request.object.spec.containers\[0\].image: /],
    ['an image of 5000 characters', (r: any) => (r.request.object.spec.containers[0].image = `nginx:${'a'.repeat(5000)}`), /image longer than 4096 characters/],
    ['annotations that are not strings', (r: any) => (r.request.object.metadata.annotations = { a: { b: 'c' } }), /^request.object.metadata.annotations.a: /],
    ['a Pod that is not an object', (r: any) => (r.request.object = 'pod'), /^request.object: /],
    ['257 containers', (r: any) => (r.request.object.spec.containers = containers(257)), /more than 256 containers/],
    [
      '300 images over three lists',
      (r: any) =>
        Object.assign(r.request.object.spec, { initContainers: containers(100, 'i'), containers: containers(100), ephemeralContainers: containers(100, 'e') }),
      'request.object names more than 256 container images',
    ],
    [
      'an old object that is not a Pod',
      (r: any) => Object.assign(r.request, { operation: 'UPDATE', oldObject: { spec: { containers: 'x' } } }),
      /^request.oldObject.spec.containers: /,
    ],
  ])('an AdmissionReview with %s: 400 naming the field', async (_name, spoil, message) => {
    const review = podReview();
    spoil(review);
    const h = harness();
    await refusal(await h.post(validate, review), 400, message);
    expect(h.asked).toEqual([]);
  });

  it('a field nested 100,000 levels deep is not walked: what tender does not read cannot exhaust it', async () => {
    const review = podReview();
    review.request.object.spec = '<spec>';
    const nested = `{"containers":[],"affinity":${'{"x":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
    const h = harness();
    const res = await h.post(validate, JSON.stringify(review).replace('"<spec>"', nested));
    expect((await json(res)).response).toEqual({ uid: review.request.uid, allowed: true });
    expect(h.asked).toEqual([]);
  });

  it('an ImageReview with 257 containers or a hostile namespace: 400', async () => {
    const many = { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { containers: containers(257), namespace: 'team-a' } };
    await refusal(await harness().post(imagepolicy, many), 400, /^not an ImageReview: spec.containers: more than 256 containers/);
    const hostile = { ...fixture('imagepolicy/allowed.request.json'), spec: { containers: [{ image: images.nginx }], namespace: 'Team A' } };
    await refusal(await harness().post(imagepolicy, hostile), 400, /^not an ImageReview: spec.namespace: /);
  });

  it('a body that is not UTF-8: 400', async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"apiVersion":"'), 0xff, 0xfe, ...new TextEncoder().encode('"}')]);
    await refusal(await harness().post(validate, bytes), 400, 'review body is not UTF-8');
  });

  it('a review over the size cap: 413, whether its length is declared or not, without reading it all', async () => {
    const big = podReview();
    big.request.object.metadata.annotations = { note: 'x'.repeat(200_000) };
    const text = JSON.stringify(big);
    const declared = harness({}, { maxBodyBytes: 64 * 1024 });
    await refusal(
      await declared.post(validate, text, { 'content-type': 'application/json', 'content-length': String(text.length) }),
      413,
      `review of ${text.length} bytes is over the 65536-byte limit`,
    );

    // Chunked: read until the cap is passed, then the transfer is cancelled.
    let pulled = 0;
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(chunk);
      },
    });
    const streamed = harness({}, { maxBodyBytes: 64 * 1024 });
    const res = await streamed.request(validate, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: endless,
      duplex: 'half',
    } as RequestInit);
    await refusal(res, 413, 'review body is over the 65536-byte limit');
    expect(pulled).toBeLessThan(10);

    // Under the cap, the same review is read and judged.
    const roomy = harness({}, { maxBodyBytes: 1024 * 1024 });
    expect((await roomy.post(validate, text)).status).toBe(200);
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }, 'expected Content-Type application/json, got "text/plain"'],
    ['none', {}, 'expected Content-Type application/json, got none'],
    ['application/yaml', { 'content-type': 'application/yaml' }, 'expected Content-Type application/json, got "application/yaml"'],
  ])('Content-Type %s: 415', async (_name, headers, message) => {
    // Bytes, not a string: a string body would get text/plain from the Request constructor.
    const body = new TextEncoder().encode(JSON.stringify(podReview()));
    await refusal(await harness().post(validate, body, headers), 415, message);
  });

  it('application/json with parameters is JSON', async () => {
    const res = await harness().post(validate, podReview(), { 'content-type': 'Application/JSON; charset=utf-8' });
    expect(res.status).toBe(200);
  });

  it.each(['GET', 'PUT', 'DELETE'])('%s: 405 with Allow: POST', async (method) => {
    for (const path of [validate, imagepolicy]) {
      const res = await harness().request(path, { method });
      await refusal(res, 405, `${method} is not allowed: POST a review`);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('no hostile body makes a 5xx', async () => {
    const bodies: unknown[] = [
      '{}',
      '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}',
      { ...podReview(), request: { ...podReview().request, kind: null } },
      { ...podReview(), request: { ...podReview().request, kind: { group: 1, version: [], kind: {} } } },
      { ...podReview(), request: { ...podReview().request, object: { spec: null, metadata: null } } },
      { ...podReview(), request: { ...podReview().request, userInfo: { username: ['a'] } } },
      { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: null },
      { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { containers: null, annotations: null } },
      { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { annotations: { ['k'.repeat(400)]: 'v' } } },
      '{"__proto__":{"allowed":true},"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{}}',
      `[${'['.repeat(50_000)}${']'.repeat(50_000)}]`,
    ];
    for (const body of bodies) {
      for (const path of [validate, imagepolicy]) {
        const res = await harness().post(path, body);
        expect(res.status, `${path} ${JSON.stringify(body).slice(0, 120)}`).toBeLessThan(500);
      }
    }
  });
});
