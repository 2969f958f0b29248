// UpstreamRouter: ns, ns aliases, host path prefix and the default upstream — and nothing else, ever.
import { describe, expect, it } from 'vitest';
import type { Upstream } from '../../../src/cache/ports.js';
import { OciError } from '../../../src/oci/errors.js';
import { UpstreamRouter } from '../../../src/upstream/router.js';

/** Every property read on a fake upstream, as `name.property`. */
const accessed: string[] = [];

/** An upstream whose every method throws and whose every property read is logged: routing may only read `name`. */
function fakeUpstream(name: string): Upstream {
  const touched = (): never => {
    throw new Error(`upstream ${name} was called during routing`);
  };
  const target: Upstream = {
    name,
    private: false,
    offline: false,
    getManifest: touched,
    headManifest: touched,
    getBlob: touched,
    headBlob: touched,
    listTags: touched,
    referrers: touched,
  };
  return new Proxy(target, {
    get(object, property, receiver) {
      accessed.push(`${name}.${String(property)}`);
      return Reflect.get(object, property, receiver) as unknown;
    },
  });
}

const hub = fakeUpstream('docker.io');
const ghcr = fakeUpstream('ghcr.io');
const k8s = fakeUpstream('registry.k8s.io');
const local = fakeUpstream('registry.local:5000');

function makeRouter(defaultUpstream = 'docker.io'): UpstreamRouter {
  return new UpstreamRouter(
    [
      { upstream: hub, aliases: ['index.docker.io', 'registry-1.docker.io'] },
      { upstream: ghcr, aliases: [] },
      { upstream: k8s, aliases: ['k8s.gcr.io'] },
      { upstream: local, aliases: ['Registry.Internal'] },
    ],
    defaultUpstream,
  );
}

function expectOciError(run: () => unknown, code: string, status: number): OciError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(OciError);
  expect((caught as OciError).code).toBe(code);
  expect((caught as OciError).status).toBe(status);
  return caught as OciError;
}

function caught(run: () => unknown): OciError {
  try {
    run();
  } catch (err) {
    return err as OciError;
  }
  throw new Error('expected an error');
}

describe('UpstreamRouter', () => {
  const router = makeRouter();

  describe('containerd ?ns=', () => {
    it('routes by ns to the named upstream, keeping the name', () => {
      const route = router.resolve({ ns: 'ghcr.io', name: 'org/app' });
      expect(route.upstream).toBe(ghcr);
      expect(route.repository).toBe('org/app');
      expect(router.resolve({ ns: 'registry.k8s.io', name: 'kube-apiserver' })).toEqual({ upstream: k8s, repository: 'kube-apiserver' });
    });

    it('routes ns aliases to their upstream', () => {
      expect(router.resolve({ ns: 'index.docker.io', name: 'library/nginx' })).toEqual({ upstream: hub, repository: 'library/nginx' });
      expect(router.resolve({ ns: 'registry-1.docker.io', name: 'library/nginx' }).upstream).toBe(hub);
      expect(router.resolve({ ns: 'k8s.gcr.io', name: 'pause' }).upstream).toBe(k8s);
    });

    it('matches ns and aliases case-insensitively', () => {
      expect(router.resolve({ ns: 'GHCR.io', name: 'org/app' }).upstream).toBe(ghcr);
      expect(router.resolve({ ns: 'registry.internal', name: 'team/app' }).upstream).toBe(local);
    });

    it('compares ASCII only: a Unicode case fold never aliases a configured name', () => {
      // "doc\u212Aer.io" (Kelvin sign) lower-cases to "docker.io" under a Unicode fold.
      for (const ns of ['doc\u212Aer.io', 'GHCR.\u0130O', 'ghcr.io\u200b', 'ｇhcr.io']) {
        expect(() => router.resolve({ ns, name: 'library/nginx' }), ns).toThrow(OciError);
        expect(caught(() => router.resolve({ ns, name: 'library/nginx' })).code).toBe('DENIED');
      }
      // As a path prefix it is no host name at all, and no repository name either.
      expect(caught(() => router.resolve({ ns: undefined, name: 'doc\u212Aer.io/library/nginx' })).code).toBe('NAME_INVALID');
    });

    it('routes an ns with a port', () => {
      expect(router.resolve({ ns: 'registry.local:5000', name: 'team/app' })).toEqual({ upstream: local, repository: 'team/app' });
    });

    it('does not strip a host-looking first component when ns is given', () => {
      // With ns the whole path is the repository on that registry.
      expect(router.resolve({ ns: 'ghcr.io', name: 'docker.io/app' })).toEqual({ upstream: ghcr, repository: 'docker.io/app' });
    });
  });

  describe('path prefix (CRI-O, podman, skopeo)', () => {
    it('routes a host prefix and strips it from the repository', () => {
      expect(router.resolve({ ns: undefined, name: 'ghcr.io/org/app' })).toEqual({ upstream: ghcr, repository: 'org/app' });
      expect(router.resolve({ ns: undefined, name: 'registry.local:5000/team/app/api' })).toEqual({
        upstream: local,
        repository: 'team/app/api',
      });
    });

    it('routes an alias prefix', () => {
      expect(router.resolve({ ns: undefined, name: 'index.docker.io/library/nginx' })).toEqual({
        upstream: hub,
        repository: 'library/nginx',
      });
    });
  });

  describe('default upstream (dockerd registry-mirrors)', () => {
    it('routes a name without a host prefix to the default', () => {
      expect(router.resolve({ ns: undefined, name: 'library/nginx' })).toEqual({ upstream: hub, repository: 'library/nginx' });
      expect(router.resolve({ ns: undefined, name: 'bitnami/redis' })).toEqual({ upstream: hub, repository: 'bitnami/redis' });
    });

    it('routes to whichever upstream is the default', () => {
      const other = makeRouter('ghcr.io');
      expect(other.resolve({ ns: undefined, name: 'org/app' })).toEqual({ upstream: ghcr, repository: 'org/app' });
    });

    it('throws DENIED when the default itself is not configured', () => {
      const broken = makeRouter('nowhere.example');
      expectOciError(() => broken.resolve({ ns: undefined, name: 'library/nginx' }), 'DENIED', 403);
    });
  });

  describe('Docker Hub official images', () => {
    it('expands a single-component name to library/<name> via ns=docker.io', () => {
      expect(router.resolve({ ns: 'docker.io', name: 'nginx' })).toEqual({ upstream: hub, repository: 'library/nginx' });
      expect(router.resolve({ ns: 'index.docker.io', name: 'alpine' })).toEqual({ upstream: hub, repository: 'library/alpine' });
    });

    it('expands via a docker.io path prefix', () => {
      expect(router.resolve({ ns: undefined, name: 'docker.io/nginx' })).toEqual({ upstream: hub, repository: 'library/nginx' });
    });

    it('expands via the default upstream', () => {
      expect(router.resolve({ ns: undefined, name: 'nginx' })).toEqual({ upstream: hub, repository: 'library/nginx' });
    });

    it('leaves multi-component Docker Hub names alone', () => {
      expect(router.resolve({ ns: 'docker.io', name: 'bitnami/redis' }).repository).toBe('bitnami/redis');
      expect(router.resolve({ ns: 'docker.io', name: 'library/nginx' }).repository).toBe('library/nginx');
    });

    it('does not expand single-component names on other upstreams', () => {
      expect(router.resolve({ ns: 'registry.k8s.io', name: 'pause' })).toEqual({ upstream: k8s, repository: 'pause' });
      expect(router.resolve({ ns: undefined, name: 'ghcr.io/app' })).toEqual({ upstream: ghcr, repository: 'app' });
      expect(makeRouter('ghcr.io').resolve({ ns: undefined, name: 'app' })).toEqual({ upstream: ghcr, repository: 'app' });
    });
  });

  describe('allowlist', () => {
    it.each([
      ['unknown ns', { ns: 'evil.example', name: 'library/nginx' }],
      ['unknown ns that is a repository-looking word', { ns: 'library', name: 'nginx' }],
      ['empty ns', { ns: '', name: 'library/nginx' }],
      ['unknown host prefix', { ns: undefined, name: 'evil.example/org/app' }],
      ['IP-literal prefix', { ns: undefined, name: '10.0.0.1/org/app' }],
      ['IP-literal prefix with port', { ns: undefined, name: '169.254.169.254:80/latest/meta-data' }],
      ['localhost prefix not configured', { ns: undefined, name: 'localhost:5000/org/app' }],
      ['bare localhost prefix', { ns: undefined, name: 'localhost/org/app' }],
      ['configured host with a different port', { ns: undefined, name: 'registry.local:5001/team/app' }],
    ])('refuses %s with DENIED 403 without touching any upstream', (_label, request) => {
      accessed.length = 0;
      expectOciError(() => router.resolve(request), 'DENIED', 403);
      expect(accessed).toEqual([]);
    });

    it('reads nothing but the name of the upstream it routes to', () => {
      accessed.length = 0;
      router.resolve({ ns: 'ghcr.io', name: 'org/app' });
      router.resolve({ ns: undefined, name: 'nginx' });
      expect(accessed.every((key) => key.endsWith('.name'))).toBe(true);
    });

    it('names the refused registry in the error', () => {
      const err = expectOciError(() => router.resolve({ ns: undefined, name: 'evil.example/org/app' }), 'DENIED', 403);
      expect(err.message).toContain('evil.example');
    });
  });

  describe('repository validation', () => {
    it.each([
      ['uppercase', { ns: 'ghcr.io', name: 'Org/App' }],
      ['dot-dot component', { ns: 'ghcr.io', name: 'org/../app' }],
      ['empty component', { ns: undefined, name: 'library//nginx' }],
      ['host prefix with nothing useful after it', { ns: undefined, name: 'ghcr.io/-app' }],
      ['too long', { ns: 'ghcr.io', name: 'a'.repeat(256) }],
    ])('refuses %s with NAME_INVALID', (_label, request) => {
      expectOciError(() => router.resolve(request), 'NAME_INVALID', 400);
    });

    it('prefers DENIED over NAME_INVALID for an unknown registry', () => {
      expectOciError(() => router.resolve({ ns: 'evil.example', name: 'BAD NAME' }), 'DENIED', 403);
    });
  });
});
