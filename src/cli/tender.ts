#!/usr/bin/env node
// The `tender` command: `tender serve` (default) with --config, flags and TENDER_* environment variables.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { start } from '../main.js';
import { verifyCache } from './verify.js';

const usage = `Usage: tender [serve] [options]
       tender verify [--cache-dir <dir>]   re-hash every cached blob, quarantine mismatches (exit 1 if any)

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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  if (command === 'verify') {
    const cacheDir = values['cache-dir'] ?? process.env.TENDER_CACHE_DIR ?? './data';
    const report = await verifyCache(cacheDir, (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(`checked ${report.checked} blobs (${report.bytes} bytes) in ${report.ms} ms: ${report.quarantined.length} quarantined\n`);
    return report.quarantined.length > 0 ? 1 : 0;
  }
  if (command !== 'serve') {
    process.stderr.write(`unknown command "${command}"\n\n${usage}`);
    return 2;
  }
  let config;
  try {
    config = loadConfig({
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
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tender: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
