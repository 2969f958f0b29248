// Sanctioned-only mode through the core, and the judgement `tender check` and admission share.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sanctioned } from '../../../src/cache/sanctioned.js';
import { bodyOf, coreUnderTest, routeTo } from './core-under-test.js';
import { ScriptedUpstream, sha256 } from './scripted-upstream.js';

const get = { accept: undefined, head: false };

async function setup(shareWith?: Awaited<ReturnType<typeof coreUnderTest>>) {
  const upstream = new ScriptedUpstream();
  const listed = upstream.pushImage('team/base', '1.0', [randomBytes(1_000)], 'base');
  const other = upstream.pushImage('team/base', '2.0', [randomBytes(1_000)], 'other');
  const route = routeTo(upstream, 'team/base');
  const sanctioned = new Sanctioned([{ route, reference: '1.0' }]);
  const core = await coreUnderTest({ policies: [sanctioned], ...(shareWith ? { shareWith } : {}) });
  return { upstream, listed, other, route, core };
}

describe('sanctioned-only mode', () => {
  it('refuses an unlisted tag, and any digest no listed image references, without asking upstream', async () => {
    const s = await setup();
    await expect(s.core.pullThrough.manifest(s.route, '2.0', get)).rejects.toMatchObject({
      code: 'DENIED',
      message: 'registry.test/team/base:2.0 is not in the sanctioned image list',
      detail: { reason: 'sanctioned-only', upstream: 'registry.test' },
    });
    await expect(s.core.pullThrough.manifest(s.route, s.other.digest, get)).rejects.toMatchObject({ code: 'DENIED' });
    await expect(s.core.pullThrough.blob(s.route, s.listed.layers[0]!, { head: false })).rejects.toMatchObject({ code: 'DENIED' });
    await expect(s.core.pullThrough.manifest(routeTo(s.upstream, 'team/other'), '1.0', get)).rejects.toMatchObject({ code: 'DENIED' });
    expect(s.upstream.calls).toEqual([]);
  });

  it('serves a listed image, and then what its manifest references', async () => {
    const s = await setup();
    expect((await s.core.pullThrough.manifest(s.route, '1.0', get)).digest).toBe(s.listed.digest);
    for (const digest of [s.listed.config, ...s.listed.layers]) {
      expect((await bodyOf(await s.core.pullThrough.blob(s.route, digest, { head: false }))).length).toBeGreaterThan(0);
    }
    // Being cached is not being sanctioned.
    await expect(s.core.pullThrough.manifest(s.route, s.other.digest, get)).rejects.toMatchObject({ code: 'DENIED' });
  });

  it('learns at start what the cache holds of a listed image: its layers are served before its manifest is asked for again', async () => {
    const s = await setup();
    await s.core.pullThrough.manifest(s.route, '1.0', get);
    await bodyOf(await s.core.pullThrough.blob(s.route, s.listed.layers[0]!, { head: false }));
    const restarted = await setup(s.core);
    const answer = await restarted.core.pullThrough.blob(restarted.route, s.listed.layers[0]!, { head: false });
    expect(answer.result).toBe('hit');
  });

  it('gives tender check and admission the same verdict as a pull, without throwing', async () => {
    const s = await setup();
    expect(await s.core.pullThrough.judge(s.route, '1.0')).toEqual({ allowed: true, digest: s.listed.digest });
    expect(await s.core.pullThrough.judge(s.route, '2.0')).toEqual({
      allowed: false,
      reason: 'sanctioned-only',
      message: 'registry.test/team/base:2.0 is not in the sanctioned image list',
    });
    await expect(s.core.pullThrough.judge(s.route, `1.0-missing`)).resolves.toMatchObject({ allowed: false });
    const unknown = sha256(Buffer.from('unknown'));
    await expect(s.core.pullThrough.judge(s.route, unknown)).resolves.toMatchObject({ allowed: false, reason: 'sanctioned-only' });
  });
});
