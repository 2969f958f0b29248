// The OCI distribution-spec conformance suite (v1.1.1, Pull and Content Discovery, read-only) run through
// tender in front of Debian's distribution 2.8, through the default route and through a path-prefix route.
//
// The runner (`../shared/conformance/run.sh` from the repository root; see its README) pushes the suite's
// fixtures to the upstream and runs the suite against tender with them declared as pre-existing. Every
// spec that runs must pass, and exactly `expectedSpecs` must run (a run that silently runs fewer fails).
//
// Skipped by name, and only these: the three referrers specs that need referrer artifacts pushed to an
// upstream with the referrers API (the suite's "References setup" pushes them through the API, and
// Debian's registry 2.8 has none, so there is nothing for them to find). tender's own referrers answers
// (the API, the referrers tag, an empty index; artifactType filtering) are tested in
// listings-faults.test.ts and test/unit/cache/referrers.test.ts.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBinaries, isCI } from '../helpers/binaries.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The runner beside the repository (CI has the same layout); TENDER_CONFORMANCE_RUNNER points elsewhere, e.g. from a worktree. */
const runner = process.env.TENDER_CONFORMANCE_RUNNER ?? join(repositoryRoot, '../shared/conformance/run.sh');

/** Referrers specs that need referrers pushed to an upstream with the API: skipped, by their exact names. */
const skipped = [
  'GET request to existing blob should yield 200',
  'GET request to existing blob with filter should yield 200',
  'GET request to missing manifest should yield 200',
];
// Anchored: the Pull workflow has "GET request to existing blob should yield 200 response", which must run.
const ginkgoSkip = `-ginkgo.skip=${skipped.map((name) => `${name}$`).join('|')}`;

/** Specs that run through tender: the Pull and Content Discovery workflows less the three above. */
const expectedSpecs = 19;

/** The upstream's name in tender, as a path-prefix route spells it. */
const upstreamName = 'registry.test:5000';

interface Run {
  /** From the suite's "Ran N of M Specs" line. */
  readonly ran: number;
  readonly passed: number;
  readonly failed: number;
  readonly lastLine: string;
  readonly output: string;
}

async function runSuite(upstreamUrl: string, mirrorUrl: string, namespace: string, mirrorNamespace: string): Promise<Run> {
  const out = await mkdtemp(join(tmpdir(), 'tender-conformance-'));
  try {
    const output = await new Promise<string>((done) => {
      execFile(
        'bash',
        [runner, upstreamUrl, mirrorUrl, namespace, out, '--', ginkgoSkip],
        { env: { ...process.env, MIRROR_NAMESPACE: mirrorNamespace, SUITE_TIMEOUT: '240' }, timeout: 280_000, maxBuffer: 16 * 1024 * 1024 },
        // A failing run exits non-zero: its output is what the assertions read.
        (_err, stdout, stderr) => done(`${stdout}${stderr}`),
      );
    });
    const lastLine =
      output
        .trim()
        .split('\n')
        .findLast((line) => line.startsWith('conformance: ')) ?? '';
    const counts = /^conformance: (\d+) passed, (\d+) failed/.exec(lastLine);
    const ran = /^Ran (\d+) of \d+ Specs/m.exec(output);
    return { ran: Number(ran?.[1] ?? -1), passed: Number(counts?.[1] ?? -1), failed: Number(counts?.[2] ?? -1), lastLine, output };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const present = existsSync(runner);
if (!present && !isCI()) console.warn(`[skip] conformance: no runner at ${runner} (set TENDER_CONFORMANCE_RUNNER)`);

describeWithBinaries(['docker-registry', 'curl'], 'OCI distribution-spec conformance through tender', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;

  beforeAll(async () => {
    if (!present) return;
    registry = await startRegistry();
    tender = await startTender({ upstreams: { [upstreamName]: registry.url } });
  });

  afterAll(async () => {
    await tender?.stop();
    await registry?.stop();
  });

  // Under CI=true a missing runner fails the suite rather than skipping it.
  const run = present || isCI() ? it : it.skip;

  run('has the runner', () => {
    expect(existsSync(runner), `the conformance runner is missing at ${runner}`).toBe(true);
  });

  run(
    'passes every spec that runs, through the default route',
    async () => {
      const result = await runSuite(registry.url, tender.url, 'conformance/default', 'conformance/default');
      console.log(`default route: ${result.lastLine}`);
      expect(result.failed, result.output).toBe(0);
      expect(result.ran, result.output).toBe(expectedSpecs);
      expect(result.passed, result.output).toBe(expectedSpecs);
    },
    300_000,
  );

  run(
    'passes every spec that runs, through a path-prefix route',
    async () => {
      const result = await runSuite(registry.url, tender.url, 'conformance/prefix', `${upstreamName}/conformance/prefix`);
      console.log(`path-prefix route: ${result.lastLine}`);
      expect(result.failed, result.output).toBe(0);
      expect(result.ran, result.output).toBe(expectedSpecs);
      expect(result.passed, result.output).toBe(expectedSpecs);
    },
    300_000,
  );
});
