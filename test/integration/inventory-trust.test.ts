// The inventory's trust part from real pulls under a signature policy (Debian's docker-registry upstream, a real
// tender): a cosign-signed image shows `verified` with its key and time, its `.sig` manifest as an attached
// signature, in /api/v1/, the /ui/ page and `tender inventory`; an unsigned image under a warn policy shows the
// refusal's reason; the signed/unsigned filter follows the verdicts. The last test prints, for the signed image,
// tender's own answers to the five questions of issue 15 (what, where from, which tags, who pulled, up to date).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { runCommandLine } from '../../src/cli/command-line.js';
import { describeWithBinaries } from '../helpers/binaries.js';
import { signClassic, type ClassicSignature } from '../helpers/cosign.js';
import { generateSigningKey, keyHint, type SigningKey } from '../helpers/cosign-keys.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const upstream = 'registry.test';
const labels = {
  'org.opencontainers.image.source': 'https://git.example/platform/api',
  'org.opencontainers.image.revision': '9e8d7c6b5a',
};
const annotations = { 'org.opencontainers.image.version': '2.4.1', 'org.opencontainers.image.base.name': 'docker.io/library/debian:bookworm-slim' };

interface Verdict {
  policy: string;
  verified: boolean;
  key?: string;
  at: string;
  detail?: string;
}

describeWithBinaries(['docker-registry'], 'inventory trust: signature verdicts and attached signatures', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let work: string;
  let signer: SigningKey;
  let signed: PushedImage;
  let unsigned: PushedImage;
  let signature: ClassicSignature;
  const keyId = (): string => Buffer.from(keyHint(signer), 'base64').toString('hex');

  beforeAll(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'tender-inventory-trust-'));
    signer = generateSigningKey();
    await writeFile(join(work, 'cosign.pub'), signer.publicKeyPem);
    signed = await pushImage(registry, 'platform/api', '2.4', { layerSizes: [3000], seed: 'trust-signed', labels, annotations });
    signature = await signClassic(registry, 'platform/api', signed.digest, signer);
    unsigned = await pushImage(registry, 'soft/tool', '1.0', { layerSizes: [1000], seed: 'trust-unsigned' });
    tender = await startTender({
      upstreams: { [upstream]: registry.url },
      settings: {
        inventory: { flushInterval: '200ms' },
        signatures: {
          policies: [
            { name: 'platform', repositories: [`${upstream}/platform/**`], keys: [join(work, 'cosign.pub')], mode: 'enforce' },
            { name: 'soft', repositories: [`${upstream}/soft/**`], keys: [join(work, 'cosign.pub')], mode: 'warn' },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const pull = (path: string, method: 'GET' | 'HEAD' = 'GET', client = 'containerd/v2.0.0') =>
    http(`${tender.url}/v2/${upstream}/${path}`, { method, headers: { accept: containerdAccept, 'user-agent': client } });
  const api = async <T>(path: string): Promise<T> => {
    const answer = await http(`${tender.url}${path}`);
    expect(answer.status, `${path}: ${answer.body.toString()}`).toBe(200);
    return JSON.parse(answer.body.toString()) as T;
  };
  const cli = async (args: string[]): Promise<string> => {
    let out = '';
    const code = await runCommandLine(args, { env: {}, out: (t) => (out += t), err: (t) => (out += t) });
    expect(code, out).toBe(0);
    return out;
  };

  it('a signed image pulled through the policy shows `verified` with key and time, and its .sig as an attached signature', async () => {
    const before = Date.now();
    // As containerd pulls: HEAD the tag, GET by digest, then config and layers (admitted by the verified manifest).
    expect((await pull('platform/api/manifests/2.4', 'HEAD')).status).toBe(200);
    expect((await pull(`platform/api/manifests/${signed.digest}`)).status).toBe(200);
    for (const blob of [signed.config, ...signed.layers]) expect((await pull(`platform/api/blobs/${blob.digest}`)).status).toBe(200);

    const shown = await api<{ signature: string; trust: { signature: string; verdicts: Verdict[] }; referrers: Array<{ digest: string; kind?: string }> }>(
      `/api/v1/images/${signed.digest}`,
    );
    expect(shown.signature).toBe('verified');
    expect(shown.trust.verdicts).toEqual([{ policy: 'platform', verified: true, key: keyId(), at: expect.any(String), detail: 'simple-signing' }]);
    const at = Date.parse(shown.trust.verdicts[0]!.at);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(Date.now() + 1000);
    // The .sig manifest tender fetched to verify: a record of its own, attached to the image by cosign's tag.
    expect(shown.referrers).toEqual([expect.objectContaining({ digest: signature.manifestDigest, kind: 'sig' })]);

    // A verdict made once: pulls answered from the verdict cache add no new verdict (its time stays).
    expect((await pull('platform/api/manifests/2.4')).status).toBe(200);
    const again = await api<{ trust: { verdicts: Verdict[] } }>(`/api/v1/images/${signed.digest}`);
    expect(again.trust.verdicts).toEqual(shown.trust.verdicts);

    const page = await http(`${tender.url}/ui/images/${signed.digest}`);
    expect(page.status).toBe(200);
    const html = page.body.toString();
    expect(html).toContain(`platform: verified by key ${keyId()} at ${shown.trust.verdicts[0]!.at}`);
    expect(html).toContain(`/ui/images/${signature.manifestDigest}`);
    expect(html).toContain('cosign .sig');
  });

  it('an unsigned image served under a warn policy shows the refusal reason; the signed/unsigned filter follows the verdicts', async () => {
    expect((await pull('soft/tool/manifests/1.0')).status).toBe(200);
    const shown = await api<{ signature: string; trust: { verdicts: Verdict[] } }>(`/api/v1/images/${unsigned.digest}`);
    expect(shown.signature).toBe('failed');
    expect(shown.trust.verdicts).toEqual([
      { policy: 'soft', verified: false, at: expect.any(String), detail: expect.stringMatching(/^warned \(no-signature\): /) },
    ]);

    const signedOnes = await api<{ images: Array<{ digest: string }> }>('/api/v1/images?signed=true');
    expect(signedOnes.images.map((i) => i.digest)).toEqual([signed.digest]);
    const unsignedOnes = await api<{ images: Array<{ digest: string }> }>('/api/v1/images?signed=false');
    expect(unsignedOnes.images.map((i) => i.digest)).toContain(unsigned.digest);
    expect(unsignedOnes.images.map((i) => i.digest)).not.toContain(signed.digest);

    const html = (await http(`${tender.url}/ui/images/${unsigned.digest}`)).body.toString();
    expect(html).toMatch(/soft: failed at [^<]* \(warned \(no-signature\): /);
    const table = await cli(['inventory', 'show', unsigned.digest, '--url', tender.url]);
    expect(table).toMatch(/signature: +failed\n +soft: failed at \S+ \(warned \(no-signature\): /);
    const listed = await cli(['inventory', 'list', '--url', tender.url, '--unsigned']);
    expect(listed).toContain('registry.test/soft/tool');
    // The .sig manifest is listed (evidence carries no signature of its own); the signed image is not.
    expect(listed).not.toContain(signed.digest.slice(0, 19));
  });

  it("answers the five questions for one image from tender's own output (printed for the closing note)", async () => {
    // A second client pulls it, and a flush makes the record the one a restarted tender would read.
    expect((await pull('platform/api/manifests/2.4', 'GET', 'cri-o/1.30.0')).status).toBe(200);
    const show = await vi.waitFor(
      async () => {
        const out = await cli(['inventory', 'show', signed.digest, '--url', tender.url]);
        expect(out).toContain('org.opencontainers.image.revision=9e8d7c6b5a');
        return out;
      },
      { timeout: 10_000 },
    );
    const detail = JSON.parse(await cli(['inventory', 'show', signed.digest, '--url', tender.url, '--json'])) as Record<string, any>;
    // What: the media type, the labels and annotations. Where from: upstream, repository, source, when.
    expect(show).toContain(`where from:     registry.test/platform/api, pull-through`);
    expect(detail.labels).toEqual(labels);
    expect(detail.annotations).toEqual(annotations);
    // Which tags: 2.4, current. Who pulled: four pulls by two user agents from one address.
    expect(detail.tagHistory).toEqual([expect.objectContaining({ upstream, repository: 'platform/api', tag: '2.4', current: true })]);
    expect(detail.pullStats.pulls).toBe(4);
    expect(new Set(detail.pullStats.recent.map((p: { userAgent: string }) => p.userAgent))).toEqual(new Set(['containerd/v2.0.0', 'cri-o/1.30.0']));
    // Up to date: the tag points here now, confirmed upstream at lastVerified; signed by the platform key.
    expect(detail.lastVerified).toEqual(expect.any(String));
    expect(detail.trust.signature).toBe('verified');
    const excerpt = {
      digest: detail.digest,
      mediaType: detail.mediaType,
      upstream: detail.upstream,
      repository: detail.repository,
      source: detail.source,
      firstFetched: detail.firstFetched,
      lastVerified: detail.lastVerified,
      tags: detail.tags,
      labels: detail.labels,
      annotations: detail.annotations,
      tagHistory: detail.tagHistory,
      trust: detail.trust,
      referrers: detail.referrers,
      pullStats: { ...detail.pullStats, recent: detail.pullStats.recent.slice(0, 2) },
    };
    const pulls = await cli(['inventory', 'pulls', signed.digest, '--url', tender.url]);
    const history = await cli(['inventory', 'history', `${upstream}/platform/api`, '--url', tender.url]);
    console.log(
      [
        `five questions for ${upstream}/platform/api:2.4 (${signed.digest}):`,
        '$ tender inventory show <digest>',
        show,
        '$ tender inventory history registry.test/platform/api',
        history,
        '$ tender inventory pulls <digest>',
        pulls,
        '$ tender inventory show <digest> --json (excerpt)',
        JSON.stringify(excerpt, null, 2),
      ].join('\n'),
    );
  });
});
