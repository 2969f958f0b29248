// `tender inventory list|show|contains|history|pulls`: the inventory as a table (or --json), from a running tender's
// /api/v1/ (--url) or, for a stopped one, straight from its cache directory / Redis (the configuration's).
import { Command, Option } from 'commander';
import type { Config } from '../config/config.js';
import { parseDigest } from '../oci/digest.js';
import type { HistoryEntry, ImageDetail, ImageSummary, ListFilter, PullSummary } from '../main.js';

/** What a subcommand asks, answered by the API or by the local records alike. */
interface Source {
  list(filter: ListFilter, cursor: string | undefined, limit: number): Promise<{ images: ImageSummary[]; next?: string }>;
  show(digest: string): Promise<ImageDetail | undefined>;
  contains(digest: string): Promise<ImageSummary[]>;
  history(upstream: string, repository: string): Promise<HistoryEntry[]>;
  pulls(digest: string): Promise<PullSummary | undefined>;
  close(): Promise<void>;
}

interface Common {
  url?: string;
  json?: boolean;
  config?: string;
  cacheDir?: string;
}

export class InventoryUsageError extends Error {}

/** Where the command reads its environment and writes (command-line.ts's CommandLineIo, which it is given). */
interface CommandLineIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Adds `inventory` and its subcommands; `configuration` loads the settings (for the local mode). */
export function addInventoryCommand(
  program: Command,
  io: CommandLineIo,
  configuration: (file: string | undefined, cacheDir: string | undefined) => Config,
  setExitCode: (code: number) => void,
): void {
  const inventory = program
    .command('inventory')
    .description(
      "what tender holds, where it came from, which tags pointed where, who pulled it (a running tender's API with --url, else the cache directory)",
    );
  const common = (command: Command): Command =>
    command
      .option('--url <url>', 'a running tender (its /api/v1/); credentials from TENDER_INVENTORY_AUTH (user:password or a token)')
      .option('--config <file>', 'YAML config whose cacheDir (or metadata.redis) to read (also TENDER_CONFIG)')
      .option('--cache-dir <dir>', 'cache directory of a stopped tender')
      .option('--json', 'JSON instead of a table');
  const run =
    (work: (source: Source, opts: Common, args: string[]) => Promise<number>) =>
    async (...given: unknown[]) => {
      const command = given[given.length - 1] as Command;
      const opts = command.opts<Common>();
      const args = given.slice(0, -2) as string[];
      const source = opts.url
        ? apiSource(opts.url, io.env.TENDER_INVENTORY_AUTH)
        : await localSource(configuration(opts.config ?? (io.env.TENDER_CONFIG || undefined), opts.cacheDir));
      try {
        setExitCode(await work(source, opts, args));
      } catch (err) {
        io.err(`tender inventory: ${err instanceof Error ? err.message : String(err)}\n`);
        setExitCode(err instanceof InventoryUsageError ? 2 : 1);
      } finally {
        await source.close();
      }
    };
  const print = (opts: Common, value: unknown, table: () => string): void => io.out(opts.json ? `${JSON.stringify(value, null, 2)}\n` : table());

  common(inventory.command('list').description('cached images, newest first'))
    .option('--upstream <name>', 'only this upstream')
    .option('--repository <pattern>', 'repository pattern: library/*, team/**')
    .addOption(new Option('--signed', 'only images some policy verified').conflicts('unsigned'))
    .option('--unsigned', 'only images no policy verified')
    .option('--pinned', 'only pinned images')
    .option('--pulled-since <when>', 'pulled since: 24h, 7d or an RFC 3339 time')
    .addOption(new Option('--state <state>', 'cached, evicted or all').choices(['cached', 'evicted', 'all']).default('cached'))
    .option('--limit <n>', 'at most this many (1 to 1000)', '100')
    .option('--cursor <cursor>', 'continue after the listing that printed it')
    .action(
      run(async (source, opts) => {
        const o = opts as Common & Record<string, string | boolean | undefined>;
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InventoryUsageError('--limit: a whole number from 1 to 1000');
        const since = o.pulledSince as string | undefined;
        const pulledSince = since === undefined ? undefined : parseWhen(since);
        const filter: ListFilter = {
          ...(o.upstream ? { upstream: o.upstream as string } : {}),
          ...(o.repository ? { repository: o.repository as string } : {}),
          ...(o.signed ? { signed: true } : o.unsigned ? { signed: false } : {}),
          ...(o.pinned ? { pinned: true } : {}),
          ...(pulledSince !== undefined ? { pulledSince } : {}),
          state: o.state as 'cached' | 'evicted' | 'all',
        };
        const page = await source.list(filter, o.cursor as string | undefined, limit);
        print(opts, page, () => `${imageTable(page.images)}${page.next ? `\nmore: --cursor ${page.next}\n` : ''}`);
        return 0;
      }),
    );
  common(
    inventory.command('show').argument('<digest>', 'a manifest or index digest').description("one image's record: what, where from, tags, trust, cache, pulls"),
  ).action(
    run(async (source, opts, [digest]) => {
      const image = await source.show(digestArgument(digest));
      if (!image) return notFound(io);
      print(opts, image, () => detail(image));
      return 0;
    }),
  );
  common(
    inventory
      .command('contains')
      .argument('<digest>', 'a blob (layer or config) or manifest digest')
      .description('cached images that contain it, and their tags'),
  ).action(
    run(async (source, opts, [digest]) => {
      const images = await source.contains(digestArgument(digest));
      print(opts, { images }, () => imageTable(images));
      return images.length > 0 ? 0 : 1;
    }),
  );
  common(
    inventory
      .command('history')
      .argument('<repository>', 'upstream/repository, such as docker.io/library/nginx')
      .description('every tag → digest the repository had'),
  ).action(
    run(async (source, opts, [repository]) => {
      const name = repository ?? '';
      const slash = name.indexOf('/');
      if (slash < 1) throw new InventoryUsageError('history: expected upstream/repository, such as docker.io/library/nginx');
      const tags = await source.history(name.slice(0, slash), name.slice(slash + 1));
      print(opts, { tags }, () =>
        table(
          ['TAG', 'DIGEST', 'FIRST SEEN', 'LAST CONFIRMED', 'CURRENT'],
          tags.map((t) => [t.tag, t.digest, t.firstSeen, t.lastSeen, t.current ? 'yes' : 'no']),
        ),
      );
      return 0;
    }),
  );
  common(
    inventory.command('pulls').argument('<digest>', 'a manifest or index digest').description('pull count, distinct clients in the last 24 h, recent pulls'),
  ).action(
    run(async (source, opts, [digest]) => {
      const pulls = await source.pulls(digestArgument(digest));
      if (!pulls) return notFound(io);
      print(
        opts,
        pulls,
        () =>
          `pulls ${pulls.pulls} (hits ${pulls.hits}), last ${pulls.lastPulled ?? 'never'}, distinct clients in 24 h ${pulls.distinctClients24h}${pulls.distinctClientsAtLeast ? '+' : ''}\n\n` +
          table(
            ['WHEN', 'CLIENT', 'TAG', 'METHOD', 'RESULT', 'USER AGENT'],
            pulls.recent.map((p) => [p.at, p.client, p.tag ?? '', p.method, p.result, p.userAgent ?? '']),
          ),
      );
      return 0;
    }),
  );
}

function notFound(io: CommandLineIo): number {
  io.err('tender inventory: no inventory record for this digest\n');
  return 1;
}

function digestArgument(text: string | undefined): string {
  try {
    return parseDigest(text ?? '').value;
  } catch {
    throw new InventoryUsageError(`"${text}" is not a digest (sha256:<64 hex>)`);
  }
}

function parseWhen(text: string): number {
  const ago = /^(\d{1,6})(s|m|h|d)$/.exec(text);
  if (ago) return Date.now() - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 's']!;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) throw new InventoryUsageError(`--pulled-since: expected 24h, 7d or an RFC 3339 time, got "${text}"`);
  return at;
}

async function localSource(config: Config): Promise<Source> {
  const { openInventory } = await import('../main.js'); // not loaded by `tender serve`'s primary
  const { queries, close } = await openInventory(config);
  return {
    list: async (filter, cursor, limit) => queries.list(filter, cursor, limit),
    show: async (digest) => queries.show(digest),
    contains: async (digest) => queries.contains(digest),
    history: async (upstream, repository) => queries.history(upstream, repository),
    pulls: async (digest) => queries.pulls(digest),
    close,
  };
}

function apiSource(base: string, auth: string | undefined): Source {
  const root = base.replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (auth) headers.authorization = auth.includes(':') ? `Basic ${Buffer.from(auth).toString('base64')}` : `Bearer ${auth}`;
  const get = async <T>(path: string, query: Record<string, string | undefined> = {}): Promise<T | undefined> => {
    const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
    const response = await fetch(`${root}${path}${params.size > 0 ? `?${params}` : ''}`, { headers, signal: AbortSignal.timeout(30_000) });
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`${root}${path}: ${response.status} ${(await response.text()).slice(0, 300)}`);
    return (await response.json()) as T;
  };
  return {
    list: async (filter, cursor, limit) =>
      (await get('/api/v1/images', {
        upstream: filter.upstream,
        repository: filter.repository,
        signed: filter.signed?.toString(),
        pinned: filter.pinned?.toString(),
        pulledSince: filter.pulledSince === undefined ? undefined : new Date(filter.pulledSince).toISOString(),
        state: filter.state,
        cursor,
        limit: String(limit),
      }))!,
    show: (digest) => get(`/api/v1/images/${digest}`),
    contains: async (digest) => (await get<{ images: ImageSummary[] }>(`/api/v1/blobs/${digest}/images`))?.images ?? [],
    history: async (upstream, repository) => (await get<{ tags: HistoryEntry[] }>('/api/v1/history', { upstream, repository }))?.tags ?? [],
    pulls: (digest) => get(`/api/v1/images/${digest}/pulls`),
    close: async () => undefined,
  };
}

const short = (digest: string): string => digest.replace(/^(sha\d+:)(.{12}).*$/, '$1$2');
const size = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)}MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)}KiB` : `${n}B`);

function imageTable(images: readonly ImageSummary[]): string {
  return table(
    ['DIGEST', 'REPOSITORY', 'TAGS', 'ON DISK', 'SOURCE', 'SIGNED', 'PULLS', 'LAST PULLED'],
    images.map((i) => [
      short(i.digest),
      `${i.upstream}/${i.repository}`,
      i.tags.join(',') || '-',
      i.state === 'evicted' ? 'evicted' : size(i.bytesOnDisk),
      i.source,
      i.signature,
      String(i.pulls),
      i.lastPulled ?? '-',
    ]),
  );
}

function detail(image: ImageDetail): string {
  const lines = [
    `digest:         ${image.digest}`,
    `what:           ${image.mediaType}${image.artifactType ? ` (artifact ${image.artifactType})` : ''}, ${image.size} bytes${image.platforms ? `, platforms ${image.platforms.join(' ')}` : ''}`,
    `where from:     ${image.upstream}/${image.repository}, ${image.source}${image.bundle ? ` (bundle sha256:${image.bundle})` : ''}`,
    `first fetched:  ${image.firstFetched}`,
    `last verified:  ${image.lastVerified}`,
    `cache:          ${image.state}, ${size(image.cache.bytesOnDisk)} on disk, ${image.cache.pinned ? 'pinned' : 'evictable'}`,
    `signature:      ${image.trust.signature}`,
    ...image.trust.verdicts.map(
      (v) =>
        `  ${clean(v.policy)}: ${v.verified ? 'verified' : 'failed'}${v.key ? ` by key ${clean(v.key)}` : ''} at ${v.at}${v.detail ? ` (${clean(v.detail)})` : ''}`,
    ),
    `pulls:          ${image.pullStats.pulls} (hits ${image.pullStats.hits}), last ${image.pullStats.lastPulled ?? 'never'}, ${image.pullStats.distinctClients24h} clients in 24 h`,
    '',
    'labels:',
    ...Object.entries(image.labels).map(([k, v]) => `  ${clean(k)}=${clean(v)}`),
    'annotations:',
    ...Object.entries(image.annotations).map(([k, v]) => `  ${clean(k)}=${clean(v)}`),
    '',
    table(
      ['TAG', 'FIRST SEEN', 'LAST CONFIRMED', 'POINTS HERE NOW'],
      image.tagHistory.map((t) => [`${t.upstream}/${t.repository}:${t.tag}`, t.firstSeen, t.lastSeen, t.current ? 'yes' : 'no (moved)']),
    ),
  ];
  if (image.referrers.length > 0)
    lines.push('referrers:', ...image.referrers.map((r) => `  ${r.digest} ${r.kind ? `cosign .${r.kind} ` : ''}${clean(r.artifactType ?? r.mediaType)}`));
  return `${lines.join('\n')}\n`;
}

/** Control characters out (a hostile label must not drive the terminal), long text clipped. */
function clean(cell: string): string {
  return cell.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ').slice(0, 200);
}

/** Columns padded to their widest cell, every cell cleaned. */
function table(header: readonly string[], rows: readonly string[][]): string {
  const all = [header, ...rows].map((row) => row.map(clean));
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return `${all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n')}\n`;
}
