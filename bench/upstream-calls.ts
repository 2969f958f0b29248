// Upstream requests a cluster's tag traffic costs, for the tender at --root (this checkout by default): a
// before/after measure of issue 16 item 4 (missing tags remembered, a cold GET and HEAD sharing one upstream
// request, freshness by tag pattern). The upstream is a real docker-registry; tender runs in this process
// with a clock the script moves, so "an hour" takes no hour. Counts are the registry's access log.
//
//   npx tsx bench/upstream-calls.ts                          # this checkout, with tagTtls for release tags
//   npx tsx bench/upstream-calls.ts --root /tmp/before --baseline   # another tree (node_modules linked),
//                                                                   # settings it may not know left out
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { containerdAccept, http } from '../test/helpers/http-client.js';
import { pushImage } from '../test/helpers/images.js';
import { startRegistry } from '../test/helpers/registry.js';

const { values } = parseArgs({ options: { root: { type: 'string', default: '.' }, baseline: { type: 'boolean', default: false } } });
const root = resolve(values.root);
const load = (path: string) => import(pathToFileURL(join(root, path)).href);
const { parseConfig } = (await load('src/config/load.ts')) as typeof import('../src/config/load.js');
const { start } = (await load('src/main.ts')) as typeof import('../src/main.js');
const { createLogger } = (await load('src/log.ts')) as typeof import('../src/log.js');

const nodes = 10;
const registry = await startRegistry();
const cacheDir = await mkdtemp(join(tmpdir(), 'tender-upstream-calls-'));
let now = Date.now();
const tender = await start(
  parseConfig({
    listen: '127.0.0.1:0',
    cacheDir,
    includeDefaultUpstreams: false,
    defaultUpstream: 'registry.test',
    upstreams: { 'registry.test': { url: registry.url, insecure: true } },
    tagTtl: '5m',
    // What an operator of an AlwaysPullImages cluster writes once tagTtls exists (the defaults otherwise).
    ...(values.baseline ? {} : { tagTtls: [{ pattern: 'v*.*.*', ttl: 'never' }] }),
  }),
  { log: createLogger('silent', new Writable({ write: (_c, _e, done) => done() })), clock: () => now },
);

const url = (tag: string) => `${tender.url}/v2/team/app/manifests/${tag}?ns=registry.test`;
const containerd = async (tag: string): Promise<void> => {
  // containerd resolves a tag with HEAD, then fetches the manifest by the digest it was given.
  const head = await http(url(tag), { method: 'HEAD', headers: { accept: containerdAccept } });
  if (head.status === 200) await http(url(head.headers['docker-content-digest']!), { headers: { accept: containerdAccept } });
};
const upstreamCalls = async (): Promise<string> => {
  await registry.settle();
  const manifests = registry.requests().filter((r) => r.kind === 'manifests');
  registry.resetLog();
  const heads = manifests.filter((r) => r.method === 'HEAD').length;
  return `${manifests.length} (${heads} HEAD, ${manifests.length - heads} GET)`;
};

try {
  await pushImage(registry, 'team/app', 'v1.2.3', { layerSizes: [1000], seed: 'v1.2.3' });
  await registry.settle();
  registry.resetLog();
  const rows: Array<[string, string]> = [];

  // 4a: a Deployment whose image has a typo, on 10 nodes at once; the kubelet retries after 10 s, 20 s, 40 s.
  for (const wait of [0, 10_000, 20_000, 40_000]) {
    now += wait;
    await Promise.all(Array.from({ length: nodes }, () => containerd('v1.2.4')));
  }
  rows.push(['4a: typo v1.2.4, 10 nodes, 4 pull attempts each (40 pulls)', await upstreamCalls()]);

  // 4b: the first rollout of v1.2.3: 10 nodes (containerd) and a CI job's GET of the tag, all at the same moment.
  await Promise.all([...Array.from({ length: nodes }, () => containerd('v1.2.3')), http(url('v1.2.3'), { headers: { accept: containerdAccept } })]);
  rows.push(['4b: cold v1.2.3, 10 containerd nodes + 1 GET of the tag at once', await upstreamCalls()]);

  // 4c: AlwaysPullImages: a Pod of v1.2.3 starts somewhere every minute for an hour.
  for (let minute = 0; minute < 60; minute++) {
    now += 60_000;
    await containerd('v1.2.3');
  }
  rows.push(['4c: AlwaysPullImages, a v1.2.3 Pod start every minute for 1 h', await upstreamCalls()]);

  console.log(`tender at ${root}${values.baseline ? ' (baseline settings)' : ''}\n`);
  console.log('| scenario | upstream manifest requests |\n| --- | --- |');
  for (const [what, calls] of rows) console.log(`| ${what} | ${calls} |`);
} finally {
  await tender.stop();
  await registry.stop();
  await rm(cacheDir, { recursive: true, force: true });
}
