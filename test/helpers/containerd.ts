// Runs a real, throw-away containerd daemon (root, own root/state/socket, no CRI) and drives it with ctr.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { unmountUnder } from './mounts.js';
import { stopProcess } from './processes.js';

const run = promisify(execFile);

/** Every ctr call is in this namespace, so images never mix with a host containerd's. */
export const CONTAINERD_NAMESPACE = 'test';

export type Snapshotter = 'overlayfs' | 'native';

export interface PullOptions {
  /** Directory holding <registry-host>/hosts.toml files (ctr --hosts-dir). */
  readonly hostsDir: string;
  /** e.g. "linux/arm64"; default: the host platform. */
  readonly platform?: string;
  /** Fetch and unpack every platform of an index. */
  readonly allPlatforms?: boolean;
  /** ctr --http-dump: every registry request and response head is printed to stderr. */
  readonly httpDump?: boolean;
  /** ctr --user user:password: credentials for whichever host answers with a challenge, mirrors included. */
  readonly user?: string | undefined;
  /** Default 60 s. */
  readonly timeoutMs?: number;
}

export interface PullResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface ContainerdHandle {
  /** The daemon's gRPC socket. */
  readonly address: string;
  readonly root: string;
  readonly state: string;
  /** Snapshotter used for unpacking: overlayfs when the daemon could load it here, else native. */
  readonly snapshotter: Snapshotter;
  /** `ctr images pull` through the hosts.toml files in opts.hostsDir; rejects with ctr's output on failure. */
  pull(ref: string, opts: PullOptions): Promise<PullResult>;
  /** The target digest containerd recorded for an image reference. */
  imageDigest(ref: string): Promise<string>;
  /** Every blob digest in the content store. */
  contentDigests(): Promise<string[]>;
  /** Runs any other ctr subcommand against this daemon and namespace. */
  ctr(args: string[], timeoutMs?: number): Promise<PullResult>;
  /** Recent daemon stderr, for failure messages. */
  logTail(): string;
  /** SIGTERM (SIGKILL after 10 s), unmount anything left under root/state, remove every directory. */
  stop(): Promise<void>;
}

export interface ContainerdOptions {
  /** Force a snapshotter; default: TENDER_TEST_SNAPSHOTTER, else overlayfs if it loads, else native. */
  readonly snapshotter?: Snapshotter;
}

const READY_DEADLINE_MS = 20_000;
const KILL_AFTER_MS = 10_000;
const LOG_TAIL_LINES = 80;

// Everything a pull does not need. CRI would want runc, CNI and a config_path of its own; the
// snapshotters below probe block devices or filesystems and only add noise to the log.
const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

function configToml(o: { root: string; state: string; address: string }): string {
  const q = JSON.stringify; // TOML basic strings accept JSON string escapes
  return [
    'version = 2',
    `root = ${q(o.root)}`,
    `state = ${q(o.state)}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map((p) => q(p)).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${q(o.address)}`,
    '',
    // The opt plugin would otherwise create /opt/containerd on the host.
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(o.root, 'opt'))}`,
    '',
    // Named images are GC roots and ctr pull holds a lease while fetching; a slow collector just
    // keeps unreferenced content around longer, which no test here depends on either way.
    '[plugins."io.containerd.gc.v1.scheduler"]',
    '  pause_threshold = 0.02',
    '  deletion_threshold = 0',
    '  mutation_threshold = 100',
    '  schedule_delay = "0s"',
    '  startup_delay = "100ms"',
    '',
  ].join('\n');
}

function errorOutput(err: unknown): string {
  const e = err as { stdout?: string; stderr?: string; message?: string };
  return [e.message, e.stdout && `stdout:\n${e.stdout}`, e.stderr && `stderr:\n${e.stderr}`].filter(Boolean).join('\n');
}

export async function startContainerd(options: ContainerdOptions = {}): Promise<ContainerdHandle> {
  // Short prefix: a unix socket path must stay under 108 bytes.
  const base = await mkdtemp(join(tmpdir(), 'ctd-'));
  const root = join(base, 'root');
  const state = join(base, 'state');
  const address = join(base, 'containerd.sock');
  await mkdir(root, { recursive: true });
  await mkdir(state, { recursive: true });
  const configPath = join(base, 'config.toml');
  await writeFile(configPath, configToml({ root, state, address }));

  const child = spawn('containerd', ['--config', configPath, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderrLines: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrLines.push(line);
    if (stderrLines.length > LOG_TAIL_LINES) stderrLines.shift();
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `containerd exited (code ${code}, signal ${signal})`;
  });
  child.once('error', (err) => {
    exited = `containerd failed to start: ${err.message}`;
  });
  const logTail = () => stderrLines.join('\n');

  const ctr = async (args: string[], timeoutMs = 30_000): Promise<PullResult> => {
    try {
      const { stdout, stderr } = await run('ctr', ['--address', address, '--namespace', CONTAINERD_NAMESPACE, ...args], {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      });
      return { stdout, stderr };
    } catch (err) {
      throw new Error(`ctr ${args.join(' ')} failed: ${errorOutput(err)}\n--- containerd log (tail) ---\n${logTail()}`);
    }
  };

  const stop = async (): Promise<void> => {
    await stopProcess(child, KILL_AFTER_MS);
    await unmountUnder([root, state]);
    await rm(base, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + READY_DEADLINE_MS;
    let lastError = '';
    for (;;) {
      if (exited) throw new Error(`${exited}\n${logTail()}`);
      try {
        await run('ctr', ['--address', address, 'version'], { timeout: 5_000 });
        break;
      } catch (err) {
        lastError = errorOutput(err);
      }
      if (Date.now() > deadline) throw new Error(`containerd not answering on ${address} within ${READY_DEADLINE_MS} ms: ${lastError}\n${logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  let snapshotter: Snapshotter;
  try {
    snapshotter = options.snapshotter ?? envSnapshotter() ?? ((await overlayfsLoaded(ctr)) ? 'overlayfs' : 'native');
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    address,
    root,
    state,
    snapshotter,
    ctr,
    logTail,
    stop,
    pull: async (ref, opts) => {
      const args = ['images', 'pull', '--hosts-dir', opts.hostsDir, '--snapshotter', snapshotter];
      if (opts.allPlatforms) args.push('--all-platforms');
      else if (opts.platform) args.push('--platform', opts.platform);
      if (opts.httpDump) args.push('--http-dump');
      if (opts.user) args.push('--user', opts.user);
      args.push(ref);
      return ctr(args, opts.timeoutMs ?? 60_000);
    },
    imageDigest: async (ref) => {
      const { stdout } = await ctr(['images', 'ls', `name==${ref}`]);
      // REF TYPE DIGEST SIZE PLATFORMS LABELS
      for (const line of stdout.split('\n').slice(1)) {
        const [name, , digest] = line.trim().split(/\s+/);
        if (name === ref && digest) return digest;
      }
      throw new Error(`containerd has no image ${ref}:\n${stdout}`);
    },
    contentDigests: async () => {
      const { stdout } = await ctr(['content', 'ls', '--quiet']);
      return stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.startsWith('sha256:'));
    },
  };
}

function envSnapshotter(): Snapshotter | undefined {
  const value = process.env.TENDER_TEST_SNAPSHOTTER;
  if (value === undefined || value === '') return undefined;
  if (value !== 'overlayfs' && value !== 'native') throw new Error(`TENDER_TEST_SNAPSHOTTER must be overlayfs or native, not ${value}`);
  return value;
}

/**
 * containerd's overlayfs plugin mounts a real two-layer overlay under its root when it loads and
 * reports an error status when that fails (overlay on overlay in a container, no CAP_SYS_ADMIN),
 * so its status is an honest probe of whether unpacking with it will work here.
 */
async function overlayfsLoaded(ctr: (args: string[]) => Promise<PullResult>): Promise<boolean> {
  const { stdout } = await ctr(['plugins', 'ls']);
  return stdout.split('\n').some((line) => {
    const [type, id, , status] = line.trim().split(/\s+/);
    return type === 'io.containerd.snapshotter.v1' && id === 'overlayfs' && status === 'ok';
  });
}

export interface HostsTomlOptions {
  /** The fallback `server`; point it at a dead port to make the mirror binding. */
  readonly server: string;
  /** The mirror's URL (http:// for plain HTTP). */
  readonly mirror: string;
  readonly capabilities?: ReadonlyArray<'pull' | 'resolve' | 'push'>;
  /** Only meaningful for https mirrors. */
  readonly skipVerify?: boolean;
  /** Headers containerd sends with every request to the mirror (`[host."…".header]`), e.g. authorization. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Writes <dir>/<registryHost>/hosts.toml as in README "Client set-up"; returns the file's path. */
export async function writeHostsToml(dir: string, registryHost: string, opts: HostsTomlOptions): Promise<string> {
  const q = JSON.stringify;
  const capabilities = opts.capabilities ?? ['pull', 'resolve'];
  // An http:// host is plain HTTP to containerd's hosts.toml loader; no --plain-http is needed.
  const lines = [`server = ${q(opts.server)}`, '', `[host.${q(opts.mirror)}]`, `  capabilities = [${capabilities.map((c) => q(c)).join(', ')}]`];
  if (opts.skipVerify) lines.push('  skip_verify = true');
  if (opts.headers) {
    lines.push('', `[host.${q(opts.mirror)}.header]`);
    for (const [name, value] of Object.entries(opts.headers)) lines.push(`  ${q(name)} = ${q(value)}`);
  }
  const file = join(dir, registryHost, 'hosts.toml');
  await mkdir(join(dir, registryHost), { recursive: true });
  await writeFile(file, lines.join('\n') + '\n');
  return file;
}
