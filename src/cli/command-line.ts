// The `tender` command line: serve (the default), verify, seed, export, import, inventory, doctor; each with its own --help, one exit-status rule.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config-error.js';
import { parseImageList, type ImageListEntry } from '../config/image-list.js';
import { loadConfig } from '../config/load.js';
import { serve as serveTender } from '../main/serve.js';
import { checkImages } from './check.js';
import { addDoctorCommand } from './doctor.js';
import { exportBundle } from './export.js';
import { importBundle } from './import.js';
import { addInventoryCommand } from './inventory.js';
import { seedImages } from './seed.js';
import { lineProgress, summaryTable, terminalProgress } from './seed-progress.js';
import { addSettingFlags, environmentHelp, type SettingSources } from './setting-flags.js';
import { verifyCache } from './verify.js';

/** The exit status rule, said once for every --help. */
const exitStatus = `
Exit status: 0 done; 1 the command ran and failed (an image not seeded, a bundle refused, a corrupt blob
found, an image check refused, the server could not start); 2 the command line or the configuration is wrong (unknown command or
option, missing or bad argument, invalid setting).`;

const commandNames = ['serve', 'verify', 'seed', 'export', 'import', 'check', 'inventory', 'doctor'];

/** A usage problem found after parsing (no image named, say): exit 2, like commander's own. */
class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
  }
}

const helpHint = (command: string): string => `(run "tender ${command} --help" for its options)`;

/** The package version: dist/cli/ and src/cli/ are both two levels below package.json. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function positiveInteger(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 64) throw new InvalidArgumentError('Expected a whole number from 1 to 64.');
  return Number(text);
}

function repeatable(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Where the command line reads its environment and writes its output: the process's, or a test's. */
export interface CommandLineIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Whether out is a terminal (seed then draws progress bars). */
  readonly terminal?: boolean;
}

function buildProgram(io: CommandLineIo, setExitCode: (code: number) => void): Command {
  /** The configuration as the command's flags, TENDER_* variables and --config file give it; a problem is a usage error. */
  const configuration = (sources: SettingSources, checkCacheDir = true): Config =>
    loadConfig(
      { file: sources.file, env: io.env, flags: sources.flags },
      // Every command that opens the cache checks it: a directory it cannot use is a configuration problem, said at once.
      { checkCacheDir, onWarning: (message) => io.err(`tender: warning: ${message}\n`) },
    );

  const program = new Command('tender')
    .description('A pull-through caching mirror for OCI registries.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', 'show the help of a command')
    .showHelpAfterError('(run "tender --help" for the commands)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    // A command is listed as its usage says (serve's hidden argument stays hidden).
    .configureHelp({ subcommandTerm: (command) => `${command.name()} ${command.usage()}` })
    .exitOverride()
    .addHelpText('after', exitStatus);

  const serve = program.command('serve', { isDefault: true }).description('serve the registry API (the default command)');
  const serveSources = addSettingFlags(serve, 'serve', io.env);
  serve
    // Not listed: a word that is no command reaches the default command, which says so.
    .argument('[command...]')
    .usage('[options]')
    .addHelpText('after', `\n${environmentHelp()}\n${exitStatus}`)
    .action(async (words: string[], opts: Record<string, unknown>) => {
      const unexpected = words[0];
      if (unexpected !== undefined) {
        // `tender frobnicate` reaches here as the default command with one argument; `tender serve x` too.
        const message =
          program.args[0] === 'serve'
            ? `unexpected argument '${unexpected}'`
            : commandNames.includes(unexpected)
              ? `options go after the command: tender ${unexpected} [options]`
              : `unknown command '${unexpected}' (commands: ${commandNames.join(', ')}, help)`;
        serve.error(`error: ${message}`, { exitCode: 2, code: 'tender.unexpectedArgument' });
      }
      // One process, or a primary and its workers (the setting `workers`); SIGTERM/SIGINT drain and stop it.
      setExitCode(await serveTender(configuration(serveSources(opts))));
    });

  program
    .command('verify')
    .description('re-hash every cached blob and quarantine the ones that do not match their digest (exit 1 if any)')
    .option('--config <file>', 'YAML config file whose cacheDir to check (also TENDER_CONFIG)')
    .option('--cache-dir <dir>', "cache directory (default: the configuration's, ./data; TENDER_CACHE_DIR)")
    .addHelpText('after', exitStatus)
    .action(async (opts: { config?: string; cacheDir?: string }) => {
      const file = opts.config ?? (io.env.TENDER_CONFIG || undefined);
      // A cache directory that is missing has nothing to verify: not an error here.
      const config = configuration({ file, flags: opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir } }, false);
      const report = await verifyCache(config.cacheDir, (line) => io.out(`${line}\n`));
      io.out(`checked ${report.checked} blobs (${report.bytes} bytes) in ${report.ms} ms: ${report.quarantined.length} quarantined\n`);
      setExitCode(report.quarantined.length > 0 ? 1 : 0);
    });

  const imageOptions = (command: Command): Command =>
    command
      .argument('[image...]', 'image references, such as docker.io/library/nginx:1.27 or ghcr.io/org/app@sha256:<hex>')
      .option('--file <list.yaml>', 'image list: YAML "images:" of references or { ref, platforms } entries')
      .option('--platform <os/arch[/variant]>', 'only this platform of the images named as arguments (repeatable; default: all)', repeatable);

  const seed = imageOptions(
    program.command('seed').description('fetch images into the cache, pinned, and print a summary (exit 1 naming any image that failed)'),
  );
  seed.addOption(new Option('--concurrency <n>', 'images fetched at once, 1 to 64').argParser(positiveInteger).default(3));
  const seedSources = addSettingFlags(seed, 'seed', io.env);
  seed
    .addHelpText('after', exitStatus)
    .action((refs: string[], opts: Record<string, unknown>) => airGap(io, 'seed', configuration(seedSources(opts)), refs, opts).then(setExitCode));

  const exportCommand = imageOptions(
    program.command('export').description('write cached images (every cached tag when none is named) as an OCI image layout archive'),
  );
  exportCommand.requiredOption('-o, --output <bundle.tar>', 'the archive to write');
  const exportSources = addSettingFlags(exportCommand, 'export', io.env);
  exportCommand
    .addHelpText('after', exitStatus)
    .action((refs: string[], opts: Record<string, unknown>) => airGap(io, 'export', configuration(exportSources(opts)), refs, opts).then(setExitCode));

  const importCommand = program
    .command('import')
    .description('verify every blob of a bundle and load it into the cache (exit 1, nothing recorded, if any blob is damaged)')
    .argument('<bundle>', 'an archive written by tender export');
  const importSources = addSettingFlags(importCommand, 'import', io.env);
  importCommand
    .addHelpText('after', exitStatus)
    .action((bundle: string, opts: Record<string, unknown>) => airGap(io, 'import', configuration(importSources(opts)), [bundle], opts).then(setExitCode));
  const check = program
    .command('check')
    .description('judge images as the admission endpoints would: admitted (exit 0) or refused, with the reason (exit 1)')
    .argument('<image...>', 'image references as a Pod names them: nginx:1.27, ghcr.io/org/app@sha256:<hex>')
    .option('--json', 'print one JSON document: { admitted, images: [{ image, verdict, reason, canonical, upstream, digest }] }');
  const checkSources = addSettingFlags(check, 'check', io.env);
  check
    .addHelpText('after', exitStatus)
    .action(async (images: string[], opts: Record<string, unknown>) =>
      setExitCode(await checkImages(configuration(checkSources(opts)), images, { json: opts.json === true, out: io.out })),
    );

  const inventorySettings = (file: string | undefined, cacheDir: string | undefined): Config =>
    configuration({ file, flags: cacheDir === undefined ? {} : { cacheDir } }, false);
  addInventoryCommand(program, io, inventorySettings, setExitCode);
  addDoctorCommand(
    program,
    io,
    // The upstreams only: the cache directory is not this command's business.
    (file) => configuration({ file, flags: {} }, false),
    (opts) => opts.config ?? (io.env.TENDER_CONFIG || undefined),
    setExitCode,
    (message) => new UsageError('doctor', message),
  );
  program.commands.find((c) => c.name() === 'doctor')?.addHelpText('after', exitStatus);
  for (const command of program.commands) command.showHelpAfterError(helpHint(command.name()));
  return program;
}

/** The --file list; one that cannot be read or is no image list is a bad argument. */
function imageList(command: string, file: string): ImageListEntry[] {
  try {
    return parseImageList(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(command, code ? `--file ${file}: cannot read it: ${code}` : `--file ${file}: ${(err as Error).message}`);
  }
}

/** seed / export / import: the core without an HTTP server; export reads the cache only (offline). */
async function airGap(
  io: CommandLineIo,
  command: 'seed' | 'export' | 'import',
  config: Config,
  args: string[],
  opts: Record<string, unknown>,
): Promise<number> {
  const platforms = opts.platform as string[] | undefined;
  const file = opts.file as string | undefined;
  const images: ImageListEntry[] = [
    ...(file ? imageList(command, file) : []),
    ...(command === 'import' ? [] : args.map((ref) => (platforms?.length ? { ref, platforms } : { ref }))),
  ];
  if (command === 'seed' && images.length === 0) throw new UsageError(command, 'seed needs image references or --file <list.yaml>');
  // Loaded when a command needs the core: `tender serve`'s primary never does (main/serve.ts).
  const { assembleForCommand } = await import('../main.js');
  const core = await assembleForCommand(config, { command, offline: command === 'export' });
  try {
    if (command === 'seed') {
      const progress = io.terminal ? terminalProgress() : lineProgress((line) => io.out(`${line}\n`));
      const results = await seedImages(core, images, progress, opts.concurrency as number);
      progress.stop();
      io.out(`\n${summaryTable(results)}\n`);
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0) io.err(`${failed.length} image(s) failed: ${failed.map((r) => `${r.ref} (${r.error})`).join('; ')}\n`);
      return failed.length > 0 ? 1 : 0;
    }
    if (command === 'export') {
      const output = opts.output as string;
      const report = await exportBundle(core, images.length > 0 ? images : undefined, output);
      for (const image of report.images) io.out(`exported ${image.ref} ${image.digest}\n`);
      io.out(`${output}: ${report.images.length} images, ${report.blobs} blobs, ${report.bytes} bytes\nsha256:${report.sha256}\n`);
      return 0;
    }
    const bundle = args[0]!;
    const report = await importBundle(core, bundle);
    for (const tag of report.tags) io.out(`imported ${tag.ref} ${tag.digest}\n`);
    io.out(
      `${bundle}: ${report.blobs - report.present} blobs verified and stored, ${report.present} already cached (skipped), ${report.bytes} bytes, ${report.tags.length} images\n`,
    );
    return 0;
  } catch (err) {
    io.err(`tender ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await core.close();
  }
}

/** Runs one command line to its exit status: 0 done, 1 the command failed, 2 a usage or configuration error. */
export async function runCommandLine(argv: readonly string[], io: CommandLineIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    // commander has printed its message (and the hint) already; --help and --version end here too, with 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n${helpHint(err.command)}\n`);
      return 2;
    }
    throw err;
  }
}
