// `tender doctor`: one line per configured upstream saying what works (DNS, TLS, /v2/, token realm,
// credentials) and what does not; exit 1 when any upstream fails a step.
import type { Command } from 'commander';
import type { Config } from '../config/config.js';
import type { ProbeReport } from '../main.js';

export interface DoctorIo {
  readonly out: (text: string) => void;
}

/** `ok    name  dns: … | tls: … | …` or `FAIL  name  …`, the failed step marked. */
export function doctorLine(report: ProbeReport, width: number): string {
  const steps = report.checks.map((check) => `${check.name}${check.ok ? '' : ' FAILED'}: ${check.detail}`);
  return `${report.ok ? 'ok  ' : 'FAIL'}  ${report.upstream.padEnd(width)}  ${steps.join(' | ')}`;
}

export function addDoctorCommand(
  program: Command,
  io: DoctorIo,
  configuration: (file: string | undefined) => Config,
  configFile: (opts: { config?: string }) => string | undefined,
  setExitCode: (code: number) => void,
  usageError: (message: string) => Error,
): void {
  program
    .command('doctor')
    .description('try each configured upstream (DNS, TLS, /v2/, token realm, credentials): one line each (exit 1 if any fails)')
    .argument('[upstream...]', 'only these upstreams (default: all configured)')
    .option('--config <file>', 'YAML config file (also TENDER_CONFIG)')
    .action(async (names: string[], opts: { config?: string }) => {
      const config = configuration(configFile(opts));
      const unknown = names.filter((name) => !config.upstreams.some((u) => u.name === name));
      if (unknown.length > 0) throw usageError(`not a configured upstream: ${unknown.join(', ')} (have: ${config.upstreams.map((u) => u.name).join(', ')})`);
      const { probeUpstreams } = await import('../main.js'); // not loaded by `tender serve`'s primary
      const reports = await probeUpstreams(config, names.length > 0 ? names : undefined);
      const width = Math.max(0, ...reports.map((r) => r.upstream.length));
      for (const report of reports) io.out(`${doctorLine(report, width)}\n`);
      setExitCode(reports.every((r) => r.ok) ? 0 : 1);
    });
}
