// Gates integration suites on external binaries: run if present, fail in CI, skip (with a hint) locally.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  containerd: 'containerd',
  ctr: 'containerd',
  promtool: 'prometheus',
  prometheus: 'prometheus',
  nginx: 'nginx-light',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  curl: 'curl',
  kubectl: 'kubernetes-client',
  podman: 'podman',
  dockerd: 'docker.io',
  docker: 'docker.io',
};

export function isCI(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory; keep looking
    }
  }
  return false;
}

export function missingBinaries(names: string[]): string[] {
  return names.filter((name) => !onPath(name));
}

export function installCommand(names: string[]): string {
  const packages = [...new Set(names.map((n) => DEBIAN_PACKAGES[n] ?? n))];
  return `apt-get install -y ${packages.join(' ')}`;
}

export function requireBinaries(names: string[]): { ok: boolean; reason?: string } {
  const missing = missingBinaries(names);
  if (missing.length === 0) return { ok: true };
  return {
    ok: false,
    reason: `missing binaries on PATH: ${missing.join(', ')} (install with: ${installCommand(missing)})`,
  };
}

export function describeWithBinaries(names: string[], title: string, fn: () => void): void {
  const check = requireBinaries(names);
  if (check.ok) {
    describe(title, fn);
  } else if (isCI()) {
    describe(title, () => {
      it('has the required binaries', () => {
        throw new Error(`${title}: ${check.reason}`);
      });
    });
  } else {
    console.warn(`[skip] ${title}: ${check.reason}`);
    describe.skip(title, fn);
  }
}

/** Same policy as describeWithBinaries, for a single test inside an otherwise runnable suite. */
export function itWithBinaries(names: string[], title: string, fn: () => Promise<void> | void, timeout?: number): void {
  const check = requireBinaries(names);
  if (check.ok) {
    it(title, fn, timeout);
  } else if (isCI()) {
    it(title, () => {
      throw new Error(`${title}: ${check.reason}`);
    });
  } else {
    console.warn(`[skip] ${title}: ${check.reason}`);
    it.skip(title, fn);
  }
}
