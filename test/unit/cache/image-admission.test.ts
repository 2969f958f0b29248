// The admission judgement over the real core and router: image strings read as the node reads them, routed as
// the node's pull would be, and judged by the pull's own policies; outages decided by onUndecided.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ImageAdmission, type AdmissionCore, type ImageAdmissionOptions, type SignatureAnswer } from '../../../src/cache/image-admission.js';
import { Sanctioned } from '../../../src/cache/sanctioned.js';
import { OciError } from '../../../src/oci/errors.js';
import { UpstreamRouter } from '../../../src/upstream/router.js';
import { coreUnderTest, type CoreSettings } from './core-under-test.js';
import { ScriptedUpstream } from './scripted-upstream.js';

async function setup(
  options: Partial<ImageAdmissionOptions> = {},
  settings: CoreSettings = {},
  sanctioned?: string[],
  signatures?: AdmissionCore['signatures'],
) {
  const hub = new ScriptedUpstream('docker.io');
  const ghcr = new ScriptedUpstream('ghcr.io');
  const nginx = hub.pushImage('library/nginx', '1.27', [randomBytes(100)], 'nginx');
  const busybox = hub.pushImage('library/busybox', '1.36', [randomBytes(100)], 'busybox');
  const app = ghcr.pushImage('org/app', 'v1', [randomBytes(100)], 'app');
  const secret = ghcr.pushImage('org/secret', 'v1', [randomBytes(100)], 'secret');
  const router = new UpstreamRouter(
    [
      { upstream: hub, aliases: ['index.docker.io'], allow: ['nginx', 'library/busybox'] },
      { upstream: ghcr, aliases: [], deny: ['org/secret'] },
    ],
    'docker.io',
  );
  const policies = sanctioned
    ? [new Sanctioned(sanctioned.map((s) => ({ route: router.resolve({ ns: 'docker.io', name: s.split(':')[0]! }), reference: s.split(':')[1]! })))]
    : [];
  const core = await coreUnderTest({ ...settings, policies });
  const admission = new ImageAdmission(
    { router, judge: (route, reference) => core.pullThrough.judge(route, reference), ...(signatures ? { signatures } : {}) },
    { mirrorHosts: ['tender.example:5000'], requireDigest: false, deadlineMs: 2_000, onUndecided: 'deny', ...options },
  );
  return { hub, ghcr, nginx, busybox, app, secret, core, admission };
}

describe('the admission judgement', () => {
  it('admits a Docker Hub short name as the mirror serves it, naming the digest a pull gets', async () => {
    const s = await setup();
    for (const image of ['nginx:1.27', 'docker.io/nginx:1.27', 'docker.io/library/nginx:1.27', 'index.docker.io/library/nginx:1.27']) {
      const judged = await s.admission.judge(image);
      expect(judged, image).toMatchObject({ verdict: 'allow', upstream: 'docker.io', repository: 'library/nginx', digest: s.nginx.digest });
      expect(judged.reason).toBe(`docker.io/library/nginx:1.27 → ${s.nginx.digest}: served by upstream docker.io`);
    }
  });

  it("routes tender's own host names as request paths: a registry prefix, or the default upstream", async () => {
    const s = await setup();
    expect(await s.admission.judge('tender.example:5000/ghcr.io/org/app:v1')).toMatchObject({ verdict: 'allow', upstream: 'ghcr.io', digest: s.app.digest });
    expect(await s.admission.judge('Tender.Example:5000/nginx:1.27')).toMatchObject({ verdict: 'allow', upstream: 'docker.io', repository: 'library/nginx' });
    // Not a mirror host without its port: a registry of its own, which tender does not serve.
    expect(await s.admission.judge('tender.example/nginx:1.27')).toMatchObject({ verdict: 'deny', reason: expect.stringContaining('"tender.example"') });
    expect(await s.admission.judge('tender.example:5000/docker.io.evil.example/library/nginx:1.27')).toMatchObject({ verdict: 'deny' });
  });

  it('refuses registries tender does not serve, look-alike names and upper-case first components included', async () => {
    const s = await setup();
    for (const [image, registry] of [
      ['docker.io.evil.example/library/nginx:1.27', 'docker.io.evil.example'],
      ['quay.io/prometheus/node-exporter:v1', 'quay.io'],
      ['localhost/nginx:1.27', 'localhost'],
      ['Docker/nginx:1.27', 'Docker'],
    ] as const) {
      expect(await s.admission.judge(image), image).toMatchObject({ verdict: 'deny', reason: expect.stringContaining(`"${registry}"`) });
    }
    expect(s.hub.calls).toEqual([]);
  });

  it('refuses references the node would refuse to parse', async () => {
    const s = await setup();
    for (const image of ['docker.io/Library/nginx:1.27', 'nginx:', ' nginx', 'a'.repeat(64), 'bad_host.example/x:1', 'nginx@sha256:abc', '']) {
      expect(await s.admission.judge(image), image).toMatchObject({ verdict: 'deny', reason: expect.stringMatching(/not a valid image reference|invalid/) });
    }
  });

  it('applies the allow and deny lists, naming the rule, without asking upstream', async () => {
    const s = await setup();
    expect(await s.admission.judge('redis:7')).toMatchObject({ verdict: 'deny', reason: 'repository library/redis is not in the allow list of docker.io' });
    expect(await s.admission.judge('ghcr.io/org/secret:v1')).toMatchObject({ verdict: 'deny', reason: expect.stringContaining('deny rule "org/secret"') });
    expect(s.ghcr.calls).toEqual([]);
  });

  it('checks a digest as given, and refuses one upstream does not have', async () => {
    const s = await setup();
    expect(await s.admission.judge(`ghcr.io/org/app@${s.app.digest}`)).toMatchObject({ verdict: 'allow', digest: s.app.digest });
    expect(await s.admission.judge(`ghcr.io/org/app:v1@${s.app.digest}`)).toMatchObject({ verdict: 'allow', image: { reference: s.app.digest } });
    const missing = `sha256:${'0'.repeat(64)}`;
    expect(await s.admission.judge(`ghcr.io/org/app@${missing}`)).toMatchObject({
      verdict: 'deny',
      reason: expect.stringContaining(`ghcr.io/org/app@${missing}`),
    });
    expect(await s.admission.judge('ghcr.io/org/app:v2')).toMatchObject({ verdict: 'deny' });
  });

  it('judges a tag that moved upstream under immutability by the digest tender keeps serving', async () => {
    const s = await setup({}, { tagTtlMs: 1_000, tagPolicies: new Map([['ghcr.io', { immutableTags: ['v*'], immutableTagsMode: 'enforce', pins: [] }]]) });
    expect(await s.admission.judge('ghcr.io/org/app:v1')).toMatchObject({ verdict: 'allow', digest: s.app.digest });
    const moved = s.ghcr.pushImage('org/app', 'v1', [randomBytes(100)], 'moved');
    s.core.advance(5_000);
    expect(await s.admission.judge('ghcr.io/org/app:v1')).toMatchObject({ verdict: 'allow', digest: s.app.digest });
    expect(moved.digest).not.toBe(s.app.digest);
  });

  it('sanctioned-only admits the listed images only', async () => {
    const s = await setup({}, {}, ['nginx:1.27']);
    expect(await s.admission.judge('nginx:1.27')).toMatchObject({ verdict: 'allow' });
    expect(await s.admission.judge('busybox:1.36')).toMatchObject({
      verdict: 'deny',
      reason: 'docker.io/library/busybox:1.36 is not in the sanctioned image list',
    });
  });

  it('requireDigest refuses a tag reference before anything is asked', async () => {
    const s = await setup({ requireDigest: true });
    expect(await s.admission.judge('nginx:1.27')).toMatchObject({ verdict: 'deny', reason: expect.stringContaining('admission.requireDigest') });
    expect(await s.admission.judge(`nginx@${s.nginx.digest}`)).toMatchObject({ verdict: 'allow' });
    expect(s.hub.count('getManifest')).toBe(1);
  });

  it('an upstream that is down with nothing cached leaves the image undecided: refused, or admitted under onUndecided allow', async () => {
    for (const onUndecided of ['deny', 'allow'] as const) {
      const s = await setup({ onUndecided });
      s.hub.failure = new OciError('UNAVAILABLE', 'connection refused');
      const judged = await s.admission.judge('nginx:1.27');
      expect(judged).toMatchObject({
        verdict: onUndecided,
        undecided: true,
        reason: expect.stringContaining('docker.io/library/nginx:1.27 could not be judged'),
      });
    }
  });

  it('an upstream that does not answer is undecided at the deadline', async () => {
    const s = await setup({ deadlineMs: 50 });
    s.hub.hang = true;
    expect(await s.admission.judge('nginx:1.27')).toMatchObject({
      verdict: 'deny',
      undecided: true,
      reason: expect.stringContaining('no decision within 50 ms'),
    });
  });

  it('a cached tag is judged while the upstream is down, as a pull would be served', async () => {
    const s = await setup({}, { tagTtlMs: 1_000, staleTimeoutMs: 100 });
    await s.admission.judge('nginx:1.27');
    s.hub.failure = new OciError('UNAVAILABLE', 'connection refused');
    s.core.advance(5_000);
    expect(await s.admission.judge('nginx:1.27')).toMatchObject({ verdict: 'allow', digest: s.nginx.digest });
  });

  describe('under a signature policy (its answer on the digest a pull gets)', () => {
    const policy = (answer: SignatureAnswer | 'hang') => {
      const asked: string[] = [];
      const signatures: AdmissionCore['signatures'] = (_route, digest, signal) => {
        asked.push(digest);
        if (answer !== 'hang') return Promise.resolve(answer);
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
      };
      return { asked, signatures };
    };

    it('admits a verified digest, naming what verified it', async () => {
      const p = policy({ allowed: true, verdict: 'verified', reason: 'signed with key 1a2b (policy platform)' });
      const s = await setup({}, {}, undefined, p.signatures);
      expect(await s.admission.judge('nginx:1.27')).toMatchObject({
        verdict: 'allow',
        reason: `docker.io/library/nginx:1.27 → ${s.nginx.digest}: served by upstream docker.io; signed with key 1a2b (policy platform)`,
      });
      expect(p.asked).toEqual([s.nginx.digest]);
    });

    it("refuses an unsigned image under an enforce policy, with the policy's reason", async () => {
      const p = policy({ allowed: false, verdict: 'refused', reason: 'no signature found (policy platform, enforce)' });
      const s = await setup({}, {}, undefined, p.signatures);
      expect(await s.admission.judge('nginx:1.27')).toEqual(
        expect.objectContaining({ verdict: 'deny', reason: 'docker.io/library/nginx:1.27: no signature found (policy platform, enforce)' }),
      );
    });

    it('warns for an image a warn policy serves unsigned, and for signatures that could not be fetched under onError allow', async () => {
      for (const verdict of ['warned', 'fail-open']) {
        const s = await setup({}, {}, undefined, policy({ allowed: true, verdict, reason: 'no signature found' }).signatures);
        expect(await s.admission.judge('nginx:1.27')).toMatchObject({ verdict: 'warn', reason: 'docker.io/library/nginx:1.27: no signature found' });
      }
    });

    it('signatures that cannot be fetched under onError deny refuse the image as undecided', async () => {
      const s = await setup({}, {}, undefined, policy({ allowed: false, verdict: 'unavailable', reason: 'signatures could not be fetched' }).signatures);
      expect(await s.admission.judge('nginx:1.27')).toMatchObject({ verdict: 'deny', undecided: true });
    });

    it('a signature check still running at the deadline is undecided', async () => {
      const s = await setup({ deadlineMs: 50 }, {}, undefined, policy('hang').signatures);
      expect(await s.admission.judge('nginx:1.27')).toMatchObject({
        verdict: 'deny',
        undecided: true,
        reason: expect.stringContaining('no decision within 50 ms'),
      });
    });
  });
});
