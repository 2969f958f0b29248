#!/usr/bin/env node
// The `tender` command: `tender serve` (default) with --config, flags and TENDER_* environment variables.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, parseImageList, type Config, type ImageListEntry } from '../config.js';
import { assembleForCommand, start } from '../main.js';
import { exportBundle } from './export.js';
import { importBundle } from './import.js';
import { seedImages } from './seed.js';
import { lineProgress, summaryTable, terminalProgress } from './seed-progress.js';
import { verifyCache } from './verify.js';

const usage = `Usage: tender [serve] [options]
       tender verify [--cache-dir <dir>]   re-hash every cached blob, quarantine mismatches (exit 1 if any)
       tender seed [--file <list.yaml>] [--platform os/arch]... [image...]
                                           fetch images into the cache (pinned); exit 1 naming failures
       tender export [--file <list.yaml>] [image...] --output <bundle.tar>
                                           write cached images (all cached tags when none named) as an OCI layout archive
       tender import <bundle.tar>          verify and load a bundle into the cache

Options:
  --config <file>            YAML config file (also TENDER_CONFIG)
  --listen <host:port>       address to listen on (default 0.0.0.0:5000)
  --cache-dir <dir>          cache directory (default ./data)
  --log-level <level>        fatal|error|warn|info|debug|trace|silent (default info)
  --default-upstream <name>  upstream for requests with neither ns nor a host prefix (default docker.io)
  --tag-ttl <duration>       how long a tag is served without asking upstream (default 5m)
  --max-cache-size <size>    evict least recently used blobs above this size, e.g. 50GiB (default: no cap)
  -h, --help                 show this help
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      'cache-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'default-upstream': { type: 'string' },
      'tag-ttl': { type: 'string' },
      'max-cache-size': { type: 'string' },
      file: { type: 'string' },
      platform: { type: 'string', multiple: true },
      output: { type: 'string', short: 'o' },
      concurrency: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  if (command === 'verify') {
    const file = values.config ?? process.env.TENDER_CONFIG;
    const cacheDir = values['cache-dir'] ?? process.env.TENDER_CACHE_DIR ?? (file ? loadConfig({ file, env: process.env }).cacheDir : './data');
    const report = await verifyCache(cacheDir, (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(`checked ${report.checked} blobs (${report.bytes} bytes) in ${report.ms} ms: ${report.quarantined.length} quarantined\n`);
    return report.quarantined.length > 0 ? 1 : 0;
  }
  if (!['serve', 'seed', 'export', 'import'].includes(command)) {
    process.stderr.write(`unknown command "${command}"\n\n${usage}`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(
      {
        file: values.config ?? process.env.TENDER_CONFIG,
        env: process.env,
        flags: {
          listen: values.listen,
          cacheDir: values['cache-dir'],
          logLevel: values['log-level'],
          defaultUpstream: values['default-upstream'],
          tagTtl: values['tag-ttl'],
          maxCacheSize: values['max-cache-size'],
        },
      },
      // Every command here opens the cache: a directory it cannot use is a configuration problem, said at once.
      { checkCacheDir: true },
    );
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (command !== 'serve') return airGap(command, config, positionals.slice(1), values);
  const running = await start(config);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      void running.stop().then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}

/** seed / export / import: the core without an HTTP server; export reads the cache only (offline). */
async function airGap(
  command: string,
  config: Config,
  args: string[],
  values: { file?: string | undefined; platform?: string[] | undefined; output?: string | undefined; concurrency?: string | undefined },
): Promise<number> {
  const images: ImageListEntry[] = [
    ...(values.file ? parseImageList(readFileSync(values.file, 'utf8')) : []),
    ...args.map((ref) => (values.platform?.length ? { ref, platforms: values.platform } : { ref })),
  ];
  const core = await assembleForCommand(config, { offline: command === 'export' });
  try {
    if (command === 'seed') {
      if (images.length === 0) throw new UsageError('seed needs image references or --file <list.yaml>');
      const progress = process.stdout.isTTY ? terminalProgress() : lineProgress((line) => process.stdout.write(`${line}\n`));
      const results = await seedImages(core, images, progress, Number(values.concurrency ?? 3) || 3);
      progress.stop();
      process.stdout.write(`\n${summaryTable(results)}\n`);
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0) process.stderr.write(`${failed.length} image(s) failed: ${failed.map((r) => `${r.ref} (${r.error})`).join('; ')}\n`);
      return failed.length > 0 ? 1 : 0;
    }
    if (command === 'export') {
      if (!values.output) throw new UsageError('export needs --output <bundle.tar>');
      const report = await exportBundle(core, images.length > 0 ? images : undefined, values.output);
      for (const image of report.images) process.stdout.write(`exported ${image.ref} ${image.digest}\n`);
      process.stdout.write(`${values.output}: ${report.images.length} images, ${report.blobs} blobs, ${report.bytes} bytes\nsha256:${report.sha256}\n`);
      return 0;
    }
    const bundle = args[0];
    if (!bundle) throw new UsageError('import needs a bundle path');
    const report = await importBundle(core, bundle);
    for (const tag of report.tags) process.stdout.write(`imported ${tag.ref} ${tag.digest}\n`);
    process.stdout.write(
      `${bundle}: ${report.blobs - report.present} blobs verified and stored, ${report.present} already cached (skipped), ${report.bytes} bytes, ${report.tags.length} images\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${usage}`);
      return 2;
    }
    process.stderr.write(`tender ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await core.close();
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tender: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
