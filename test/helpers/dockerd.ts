// Runs a real, throw-away Docker Engine (Debian's docker.io: root, own data/exec roots, socket, daemon.json and
// containerd, no networking) and drives it with the docker CLI through DOCKER_HOST.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { startContainerd, type ContainerdHandle } from './containerd.js';
import { unmountUnder } from './mounts.js';
import { stopProcess } from './processes.js';

const run = promisify(execFile);

/** The settings of daemon.json that dockerd reloads on SIGHUP (docs: "Configuration reload behavior"). */
export interface DockerdRegistrySettings {
  /** `registry-mirrors`: consulted for Docker Hub images only. */
  readonly registryMirrors?: string[];
  /** `insecure-registries`: host:port that may be plain HTTP. */
  readonly insecureRegistries?: string[];
}

export interface DockerdOptions extends DockerdRegistrySettings {
  /** HTTP(S)_PROXY for the daemon and the CLI: every connection that is not loopback goes there. */
  readonly proxy?: string;
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface DockerCommandOptions {
  /** DOCKER_CONFIG: the directory whose config.json holds the CLI's credentials. Default: one of the handle's own. */
  readonly configDir?: string | undefined;
  /** Written to the command's stdin (e.g. `login --password-stdin`). */
  readonly input?: string;
  /** Default 60 s. */
  readonly timeoutMs?: number;
}

export interface DockerdHandle {
  /** unix://<socket>, as DOCKER_HOST. */
  readonly host: string;
  /** The docker CLI's default DOCKER_CONFIG directory for this daemon (empty at start). */
  readonly configDir: string;
  /** Runs the docker CLI against this daemon; rejects with its output on a non-zero exit. */
  docker(args: string[], opts?: DockerCommandOptions): Promise<CommandResult>;
  /** Rewrites the registry settings in daemon.json and has dockerd reload them (SIGHUP), without a restart. */
  reconfigure(settings: DockerdRegistrySettings): Promise<void>;
  /** RepoDigests of a local image (`name@sha256:…`). */
  repoDigests(ref: string): Promise<string[]>;
  /** Removes every local image, so the next pull fetches every layer again. */
  removeAllImages(): Promise<void>;
  /** Recent daemon log, for failure messages. */
  logTail(): string;
  /** SIGTERM (SIGKILL after 15 s), stops its containerd, unmounts leftovers, removes every directory. */
  stop(): Promise<void>;
}

const READY_DEADLINE_MS = 30_000;
const KILL_AFTER_MS = 15_000;
const LOG_TAIL_LINES = 120;

function errorOutput(err: unknown): string {
  const e = err as { stdout?: string; stderr?: string; message?: string };
  return [e.message, e.stdout && `stdout:\n${e.stdout}`, e.stderr && `stderr:\n${e.stderr}`].filter(Boolean).join('\n');
}

/** GET /_ping on the daemon's socket: 200 "OK" once the API is up. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode === 200));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

export async function startDockerd(options: DockerdOptions = {}): Promise<DockerdHandle> {
  // Short prefix: unix socket paths must stay under 108 bytes.
  const base = await mkdtemp(join(tmpdir(), 'dkd-'));
  const dataRoot = join(base, 'data');
  const execRoot = join(base, 'exec');
  const socket = join(base, 'docker.sock');
  const configDir = join(base, 'cli');
  const home = join(base, 'home');
  const daemonJson = join(base, 'daemon.json');
  for (const dir of [dataRoot, execRoot, configDir, home]) await mkdir(dir, { recursive: true });

  const writeDaemonJson = (settings: DockerdRegistrySettings) =>
    writeFile(
      daemonJson,
      JSON.stringify({
        'registry-mirrors': settings.registryMirrors ?? [],
        'insecure-registries': settings.insecureRegistries ?? [],
        // vfs needs no kernel support (overlay on overlay fails in containers); the test images are tiny.
        'storage-driver': 'vfs',
        // dockerd 20.10 writes its identity key to /etc/docker/key.json unless told otherwise.
        'deprecated-key-path': join(base, 'key.json'),
      }),
    );
  await writeDaemonJson(options);

  // A containerd of its own: left to itself, dockerd 20.10 adopts whatever answers (or only exists) at
  // /run/containerd/containerd.sock, the host's containerd included.
  let containerd: ContainerdHandle | undefined;
  try {
    containerd = await startContainerd({ snapshotter: 'native' });
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }

  const args = [
    '--config-file',
    daemonJson,
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    '--pidfile',
    join(base, 'docker.pid'),
    '-H',
    `unix://${socket}`,
    '--containerd',
    containerd.address,
    // No networking: the tests only pull, and must leave the host's firewall and bridges alone.
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--ip-forward=false',
    '--ip-masq=false',
  ];
  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
    const result: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...extra };
    for (const name of [
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'NO_PROXY',
      'http_proxy',
      'https_proxy',
      'no_proxy',
      'DOCKER_CONTEXT',
      'DOCKER_TLS_VERIFY',
      'DOCKER_CERT_PATH',
    ]) {
      delete result[name];
    }
    return options.proxy ? { ...result, HTTP_PROXY: options.proxy, HTTPS_PROXY: options.proxy } : result;
  };

  const child = spawn('dockerd', args, { stdio: ['ignore', 'pipe', 'pipe'], env: env({}) });
  const logLines: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      logLines.push(line);
      if (logLines.length > LOG_TAIL_LINES) logLines.shift();
      for (const listener of lineListeners) listener(line);
    });
  }
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `dockerd exited (code ${code}, signal ${signal})`;
  });
  child.once('error', (err) => {
    exited = `dockerd failed to start: ${err.message}`;
  });
  const logTail = () => logLines.join('\n');

  const stop = async (): Promise<void> => {
    await stopProcess(child, KILL_AFTER_MS);
    await containerd?.stop();
    await unmountUnder([dataRoot, execRoot]);
    await rm(base, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + READY_DEADLINE_MS;
    while (!(await ping(socket))) {
      if (exited) throw new Error(`${exited}\n${logTail()}`);
      if (Date.now() > deadline) throw new Error(`dockerd not answering on ${socket} within ${READY_DEADLINE_MS} ms\n${logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const docker = async (dockerArgs: string[], opts: DockerCommandOptions = {}): Promise<CommandResult> => {
    const cliEnv = env({ DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: opts.configDir ?? configDir });
    const pending = run('docker', dockerArgs, { env: cliEnv, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 });
    pending.child.stdin?.end(opts.input ?? '');
    try {
      const { stdout, stderr } = await pending;
      return { stdout, stderr };
    } catch (err) {
      throw new Error(`docker ${dockerArgs.join(' ')} failed: ${errorOutput(err)}\n--- dockerd log (tail) ---\n${logTail()}`);
    }
  };

  return {
    host: `unix://${socket}`,
    configDir,
    docker,
    logTail,
    stop,
    reconfigure: async (settings) => {
      const reloaded = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          lineListeners.delete(listener);
          reject(new Error(`dockerd did not reload its configuration within 10 s\n${logTail()}`));
        }, 10_000);
        const listener = (line: string) => {
          if (!line.includes('Reloaded configuration') && !line.includes('Error reconfiguring the daemon')) return;
          clearTimeout(timer);
          lineListeners.delete(listener);
          if (line.includes('Error reconfiguring')) reject(new Error(`dockerd refused the new configuration: ${line}`));
          else resolve();
        };
        lineListeners.add(listener);
      });
      await writeDaemonJson(settings);
      child.kill('SIGHUP');
      await reloaded;
    },
    repoDigests: async (ref) => {
      const { stdout } = await docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref]);
      return JSON.parse(stdout) as string[];
    },
    removeAllImages: async () => {
      const { stdout } = await docker(['image', 'ls', '--quiet', '--no-trunc']);
      const ids = [
        ...new Set(
          stdout
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean),
        ),
      ];
      if (ids.length > 0) await docker(['image', 'rm', '--force', ...ids]);
    },
  };
}
