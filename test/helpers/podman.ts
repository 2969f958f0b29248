// A throw-away rootful podman set-up: its own storage (--root/--runroot, vfs), tmpdir, containers.conf,
// storage.conf, registries.conf and auth file, so nothing of the machine's configuration is read or written.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unmountUnder } from './mounts.js';

const run = promisify(execFile);

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface PodmanCommandOptions {
  /** CONTAINERS_REGISTRIES_CONF; default: the set-up's own file with no registries in it. */
  readonly registriesConf?: string;
  /** REGISTRY_AUTH_FILE (what `podman login` writes, and pulls read); default: the set-up's own, empty. */
  readonly authFile?: string;
  /** Written to the command's stdin (e.g. `login --password-stdin`). */
  readonly input?: string;
  /** Default 60 s. */
  readonly timeoutMs?: number;
}

export interface PodmanHandle {
  readonly root: string;
  /** Runs podman with this set-up; rejects with its output on a non-zero exit. */
  podman(args: string[], opts?: PodmanCommandOptions): Promise<CommandResult>;
  /** The manifest digest podman recorded for a local image. */
  imageDigest(ref: string): Promise<string>;
  /** Removes every local image, so the next pull fetches every layer again. */
  removeAllImages(): Promise<void>;
  /** Unmounts anything left under its directories and removes them. */
  remove(): Promise<void>;
}

export interface PodmanOptions {
  /** HTTP(S)_PROXY for podman: every registry connection that is not loopback goes there. */
  readonly proxy?: string;
}

function errorOutput(err: unknown): string {
  const e = err as { stdout?: string; stderr?: string; message?: string };
  return [e.message, e.stdout && `stdout:\n${e.stdout}`, e.stderr && `stderr:\n${e.stderr}`].filter(Boolean).join('\n');
}

export async function createPodman(options: PodmanOptions = {}): Promise<PodmanHandle> {
  const base = await mkdtemp(join(tmpdir(), 'podman-'));
  const dirs = {
    root: join(base, 'root'),
    runroot: join(base, 'run'),
    tmpdir: join(base, 'libpod-tmp'),
    imageTmp: join(base, 'image-tmp'),
    networks: join(base, 'networks'),
    home: join(base, 'home'),
  };
  for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true });
  const q = JSON.stringify; // TOML basic strings accept JSON string escapes
  const storageConf = join(base, 'storage.conf');
  // vfs needs no kernel support (overlay on overlay fails in containers); the test images are tiny.
  await writeFile(storageConf, ['[storage]', 'driver = "vfs"', `graphroot = ${q(dirs.root)}`, `runroot = ${q(dirs.runroot)}`, ''].join('\n'));
  const containersConf = join(base, 'containers.conf');
  // events to a file of its own, not journald; network config out of /etc/cni (podman creates a lock file there).
  await writeFile(
    containersConf,
    ['[engine]', 'events_logger = "file"', 'cgroup_manager = "cgroupfs"', '', '[network]', `network_config_dir = ${q(dirs.networks)}`, ''].join('\n'),
  );
  const emptyRegistriesConf = join(base, 'registries.conf');
  await writeFile(emptyRegistriesConf, 'unqualified-search-registries = []\n');
  const policy = join(base, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  // podman refuses a REGISTRY_AUTH_FILE that does not exist.
  const defaultAuthFile = join(base, 'auth.json');
  await writeFile(defaultAuthFile, '{"auths": {}}\n');

  const podman = async (args: string[], opts: PodmanCommandOptions = {}): Promise<CommandResult> => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // HOME too: containers/image also reads $HOME/.docker/config.json and $HOME/.config/containers.
      HOME: dirs.home,
      CONTAINERS_CONF: containersConf,
      CONTAINERS_STORAGE_CONF: storageConf,
      CONTAINERS_REGISTRIES_CONF: opts.registriesConf ?? emptyRegistriesConf,
      REGISTRY_AUTH_FILE: opts.authFile ?? defaultAuthFile,
      TMPDIR: dirs.imageTmp,
    };
    for (const name of [
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'NO_PROXY',
      'http_proxy',
      'https_proxy',
      'no_proxy',
      'XDG_RUNTIME_DIR',
      'XDG_CONFIG_HOME',
      'DOCKER_CONFIG',
    ]) {
      delete env[name];
    }
    if (options.proxy) Object.assign(env, { HTTP_PROXY: options.proxy, HTTPS_PROXY: options.proxy });
    const globals = ['--root', dirs.root, '--runroot', dirs.runroot, '--tmpdir', dirs.tmpdir, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs'];
    // podman pull has no global flag for the signature policy; pulls get this set-up's own.
    const commandArgs = args[0] === 'pull' ? ['pull', '--signature-policy', policy, ...args.slice(1)] : args;
    const pending = run('podman', [...globals, ...commandArgs], { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 });
    pending.child.stdin?.end(opts.input ?? '');
    try {
      const { stdout, stderr } = await pending;
      return { stdout, stderr };
    } catch (err) {
      throw new Error(`podman ${args.join(' ')} failed: ${errorOutput(err)}`);
    }
  };

  return {
    root: dirs.root,
    podman,
    imageDigest: async (ref) => (await podman(['image', 'inspect', '--format', '{{.Digest}}', ref])).stdout.trim(),
    removeAllImages: async () => {
      await podman(['rmi', '--all', '--force']);
    },
    remove: async () => {
      await unmountUnder([base]);
      await rm(base, { recursive: true, force: true });
    },
  };
}
