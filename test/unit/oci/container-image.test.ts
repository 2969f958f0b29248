// Image strings as the kubelet and containerd read them (distribution/reference ParseNormalizedNamed).
import { describe, expect, it } from 'vitest';
import { parseContainerImage } from '../../../src/oci/container-image.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('parseContainerImage', () => {
  it.each([
    ['nginx', 'docker.io', 'library/nginx', 'latest'],
    ['nginx:1.27', 'docker.io', 'library/nginx', '1.27'],
    ['library/nginx:1.27', 'docker.io', 'library/nginx', '1.27'],
    ['bitnami/redis:7', 'docker.io', 'bitnami/redis', '7'],
    ['docker.io/nginx', 'docker.io', 'library/nginx', 'latest'],
    ['index.docker.io/nginx:1.27', 'docker.io', 'library/nginx', '1.27'],
    ['ghcr.io/org/app:v1', 'ghcr.io', 'org/app', 'v1'],
    [`ghcr.io/org/app@${digest}`, 'ghcr.io', 'org/app', digest],
    // A digest given with a tag wins: containerd pulls by it.
    [`ghcr.io/org/app:v1@${digest}`, 'ghcr.io', 'org/app', digest],
    ['localhost/app', 'localhost', 'app', 'latest'],
    ['localhost:5000/app:1', 'localhost:5000', 'app', '1'],
    ['registry:5000/team/app', 'registry:5000', 'team/app', 'latest'],
    ['[::1]:5000/app', '[::1]:5000', 'app', 'latest'],
    // An upper-case first component is a host: a repository cannot have one.
    ['Registry/app', 'Registry', 'app', 'latest'],
    // The look-alike names its own registry.
    ['docker.io.evil.example/library/nginx:1.27', 'docker.io.evil.example', 'library/nginx', '1.27'],
    // A first component without '.', ':' or upper case is a Docker Hub namespace, however host-like it reads.
    ['registry/app', 'docker.io', 'registry/app', 'latest'],
  ])('%s is %s / %s : %s', (input, registry, repository, reference) => {
    expect(parseContainerImage(input)).toMatchObject({ registry, repository, reference });
  });

  it('spells the canonical form with ":" for a tag and "@" for a digest', () => {
    expect(parseContainerImage('nginx').canonical).toBe('docker.io/library/nginx:latest');
    expect(parseContainerImage(`nginx@${digest}`).canonical).toBe(`docker.io/library/nginx@${digest}`);
  });

  it.each([
    ['', 'empty'],
    [' nginx', 'white space'],
    ['nginx ', 'white space'],
    ['a'.repeat(64), 'image ID'],
    ['Nginx', 'must be lower-case'],
    ['docker.io/Library/nginx', 'must be lower-case'],
    ['bad_host.example/app', 'is not a registry host'],
    ['ghcr.io/', 'names no repository'],
    ['nginx:', 'invalid tag'],
    ['nginx:-x', 'invalid tag'],
    ['nginx@sha256:abc', 'invalid digest'],
    ['ghcr.io/org//app', 'invalid repository name'],
    [`ghcr.io/${'a'.repeat(250)}`, 'longer than 255'],
  ])('refuses %j (%s)', (input, problem) => {
    expect(() => parseContainerImage(input)).toThrow(problem);
  });
});
