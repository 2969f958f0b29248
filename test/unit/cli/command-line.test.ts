// The `tender` command line as an operator meets it: a help per command, --version, readable errors, one exit-status rule.
// In-process (runCommandLine with captured output); test/integration/cli-usage.test.ts runs the real executable.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommandLine } from '../../../src/cli/command-line.js';
import { settings } from '../../../src/config/settings.js';

const root = join(import.meta.dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tender-cli-usage-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs a command line and checks its exit status, showing the whole run when it differs. */
async function expectRun(args: string[], code: number, env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const status = await runCommandLine(args, { env, out: (text) => (stdout += text), err: (text) => (stderr += text) });
  expect(status, `tender ${args.join(' ')} -> ${status}\n--- stdout ---\n${stdout}--- stderr ---\n${stderr}`).toBe(code);
  return { stdout, stderr };
}

describe('tender --help and --version', () => {
  it('prints the version of the package, exit 0', async () => {
    expect((await expectRun(['--version'], 0)).stdout).toBe(`${pkg.version}\n`);
  });

  it('lists the commands and the exit-status rule, exit 0', async () => {
    const { stdout } = await expectRun(['--help'], 0);
    for (const command of ['serve', 'verify', 'seed', 'export', 'import']) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(stdout).toContain('Exit status: 0 done; 1 the command ran and failed');
    expect(stdout).toMatch(/^  serve \[options\] +serve the registry API/m); // serve's hidden argument stays hidden
  });

  it.each([
    ['seed', ['--file <list.yaml>', '--platform <os/arch[/variant]>', '--concurrency <n>', '--config <file>', '--cache-dir <dir>', '--tag-ttl <duration>']],
    ['export', ['--file <list.yaml>', '--platform <os/arch[/variant]>', '-o, --output <bundle.tar>', '--config <file>', '--cache-dir <dir>']],
    ['import', ['<bundle>', '--config <file>', '--cache-dir <dir>']],
    ['verify', ['--config <file>', '--cache-dir <dir>']],
  ])('tender %s --help describes its own options, exit 0', async (command, options) => {
    const { stdout } = await expectRun([command, '--help'], 0);
    expect(stdout).toMatch(new RegExp(`^Usage: tender ${command} `));
    for (const option of options) expect(stdout).toContain(option);
    expect(stdout).not.toContain('--listen'); // only serve listens
    expect(stdout).toContain('Exit status:');
  });

  it('tender serve --help lists every setting flag with its default and variable, and every variable', async () => {
    const { stdout } = await expectRun(['serve', '--help'], 0);
    for (const setting of Object.values(settings)) {
      if ('flag' in setting) expect(stdout).toContain(`--${setting.flag} <${setting.value.placeholder}>`);
      if ('env' in setting) expect(stdout).toContain(setting.env);
    }
    expect(stdout.replace(/\s+/g, ' ')).toContain('(default: 5m, TENDER_TAG_TTL)');
    expect(stdout).toContain('TENDER_CONFIG');
  });
});

describe('usage errors exit 2 with a readable message', () => {
  it.each([
    [['--bogus'], 'error: unknown option \'--bogus\'\n(run "tender serve --help" for its options)\n'],
    [['seed', '--bogus', 'x'], 'error: unknown option \'--bogus\'\n(run "tender seed --help" for its options)\n'],
    [
      ['frobnicate'],
      'error: unknown command \'frobnicate\' (commands: serve, verify, seed, export, import, check, inventory, doctor, help)\n(run "tender serve --help" for its options)\n',
    ],
    [['--cache-dir', '/tmp/x', 'seed', 'nginx:1'], 'error: options go after the command: tender seed [options]\n(run "tender serve --help" for its options)\n'],
    [['serve', 'extra'], 'error: unexpected argument \'extra\'\n(run "tender serve --help" for its options)\n'],
    [['import'], 'error: missing required argument \'bundle\'\n(run "tender import --help" for its options)\n'],
    [['export', 'x'], 'error: required option \'-o, --output <bundle.tar>\' not specified\n(run "tender export --help" for its options)\n'],
    [
      ['seed', '--concurrency', '0', 'x'],
      "error: option '--concurrency <n>' argument '0' is invalid. Expected a whole number from 1 to 64.\n(run \"tender seed --help\" for its options)\n",
    ],
    [['seed', '--cache-dir'], 'error: option \'--cache-dir <dir>\' argument missing\n(run "tender seed --help" for its options)\n'],
  ])('tender %j', async (args, stderr) => {
    const result = await expectRun(args, 2);
    expect(result.stderr).toBe(stderr);
    expect(result.stdout).toBe('');
  });

  it('no image to seed, and an image list that cannot be read, are usage errors', async () => {
    const cacheDir = join(dir, 'cache');
    expect((await expectRun(['seed', '--cache-dir', cacheDir], 2)).stderr).toBe(
      'error: seed needs image references or --file <list.yaml>\n(run "tender seed --help" for its options)\n',
    );
    const missing = join(dir, 'missing.yaml');
    expect((await expectRun(['seed', '--cache-dir', cacheDir, '--file', missing], 2)).stderr).toContain(`error: --file ${missing}: cannot read it: ENOENT`);
    const notAList = join(dir, 'not-a-list.yaml');
    await writeFile(notAList, 'image: nginx\n');
    expect((await expectRun(['export', '--cache-dir', cacheDir, '--file', notAList, '-o', join(dir, 'x.tar')], 2)).stderr).toContain(
      `error: --file ${notAList}: expected a YAML document with an "images:" list`,
    );
  });

  it('a bad setting names the flag or variable it came from, exit 2', async () => {
    const result = await expectRun(['seed', '--tag-ttl', 'soon', 'docker.io/library/busybox:1'], 2, { TENDER_MAX_CACHE_SIZE: 'lots' });
    expect(result.stderr).toBe(
      'invalid configuration:\n' +
        '  - --tag-ttl (tagTtl): expected a duration such as "500ms", "30s", "5m" or "1h", got "soon"\n' +
        '  - TENDER_MAX_CACHE_SIZE (maxCacheSize): expected a size such as "64MiB" or "50GiB", got "lots"\n',
    );
  });

  it('a config file that is a YAML list is refused, saying so; an empty one is accepted with a warning', async () => {
    const list = join(dir, 'list.yaml');
    await writeFile(list, '- listen: ":5000"\n');
    expect((await expectRun(['verify', '--config', list], 2)).stderr).toBe(
      `invalid configuration:\n  - config file ${list}: expected settings such as "listen: :5000" at the top level, got a list\n`,
    );
    const empty = join(dir, 'empty.yaml');
    await writeFile(empty, '# nothing yet\n');
    const verified = await expectRun(['verify', '--cache-dir', join(dir, 'empty-cache')], 0, { TENDER_CONFIG: empty });
    expect(verified.stderr).toBe(`tender: warning: config file ${empty} is empty: using the built-in defaults\n`);
    expect(verified.stdout).toMatch(/^checked 0 blobs/m);
  });
});
