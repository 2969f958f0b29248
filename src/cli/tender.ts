#!/usr/bin/env node
// The `tender` executable (package.json bin): the command line on this process's arguments, output and exit status.
import { runCommandLine } from './command-line.js';

runCommandLine(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  terminal: process.stdout.isTTY === true,
}).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tender: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
