// Command-line flags and help derived from the settings table: one option per setting that has a flag.
import { Option, type Command } from 'commander';
import { shownDefault, type ConfigCommand } from '../config/setting.js';
import { settings, type SettingKey } from '../config/settings.js';

const group = 'Settings (a flag overrides its TENDER_* variable, which overrides the --config file):';

interface FlagSetting {
  readonly key: SettingKey;
  readonly option: Option;
}

function flagSettings(command: ConfigCommand): FlagSetting[] {
  const flags: FlagSetting[] = [];
  for (const [key, setting] of Object.entries(settings)) {
    if (!('flag' in setting)) continue;
    if ('commands' in setting && !(setting.commands as readonly string[]).includes(command)) continue;
    const env = 'env' in setting ? `, ${setting.env}` : '';
    const option = new Option(`--${setting.flag} <${setting.value.placeholder}>`, `${setting.help} (default: ${shownDefault(setting)}${env})`);
    flags.push({ key: key as SettingKey, option: option.helpGroup(group) });
  }
  return flags;
}

/** Where a command's configuration comes from: the --config file (or TENDER_CONFIG) and the setting flags given. */
export interface SettingSources {
  readonly file: string | undefined;
  readonly flags: Partial<Record<SettingKey, string>>;
}

/** Adds --config and the setting flags a command takes; returns how to read them back from its parsed options. */
export function addSettingFlags(
  command: Command,
  name: ConfigCommand,
  env: Readonly<Record<string, string | undefined>>,
): (opts: Record<string, unknown>) => SettingSources {
  command.addOption(new Option('--config <file>', 'YAML config file (also TENDER_CONFIG)').helpGroup(group));
  const flags = flagSettings(name);
  for (const { option } of flags) command.addOption(option);
  return (opts) => ({
    file: (opts.config as string | undefined) ?? (env.TENDER_CONFIG || undefined),
    flags: Object.fromEntries(flags.flatMap(({ key, option }) => (opts[option.attributeName()] === undefined ? [] : [[key, opts[option.attributeName()]]]))),
  });
}

/** The environment variables, for `tender serve --help`. */
export function environmentHelp(): string {
  const rows = Object.entries(settings).flatMap(([key, setting]) =>
    'env' in setting ? [[setting.env, `${key} (default: ${shownDefault(setting)})`] as const] : [],
  );
  const width = Math.max(...rows.map(([env]) => env.length), 'TENDER_CONFIG'.length);
  return [
    'Environment (an empty variable counts as unset; flags override variables, variables override the file):',
    `  ${'TENDER_CONFIG'.padEnd(width)}  the config file (--config)`,
    ...rows.map(([env, what]) => `  ${env.padEnd(width)}  ${what}`),
  ].join('\n');
}
