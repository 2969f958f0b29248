// A Pod's `image` string read the way the kubelet and containerd read it (distribution/reference ParseNormalizedNamed),
// so admission judges the image the node will actually pull, not a look-alike of it.
import { isDigest, parseDigest } from './digest.js';
import { OciError } from './errors.js';
import { assertRepository, assertTag, maxNameLength } from './names.js';

export interface ContainerImage {
  /** The registry host as the image names it (`docker.io` for Docker Hub and its short names; `index.docker.io` folded in). */
  readonly registry: string;
  /** The repository path on that registry (`library/nginx` for `nginx`; no library/ for other registries). */
  readonly repository: string;
  /** The digest when one is given (it wins over a tag, as containerd pulls by it), else the tag, else `latest`. */
  readonly reference: string;
  /** registry/repository:tag or registry/repository@digest. */
  readonly canonical: string;
}

// distribution/reference's domain grammar: DNS labels joined by dots, or a bracketed IPv6 address, then an optional port.
const label = '(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])';
const domainPattern = new RegExp(`^(?:${label}(?:\\.${label})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
// A 64-hex string alone is refused by ParseNormalizedNamed: it reads like an image ID, not a name.
const imageIdPattern = /^[a-f0-9]{64}$/;

/**
 * Parses `image` as kubelet and containerd do. The first path component is the registry exactly when it contains
 * `.` or `:`, is `localhost`, or has an upper-case letter (which a repository cannot); otherwise the image is on
 * Docker Hub, where a one-component name is an official image (`nginx` → docker.io/library/nginx). So
 * `docker.io.evil.example/library/nginx` names the registry `docker.io.evil.example`, not Docker Hub, and
 * `localhost/app` names the node itself. Throws NAME_INVALID (or the tag's or digest's error) for what they refuse.
 */
export function parseContainerImage(input: string): ContainerImage {
  if (input.length === 0 || input !== input.trim()) throw invalid(input, 'leading or trailing white space, or empty');
  if (imageIdPattern.test(input)) throw invalid(input, 'a 64-hex-digit string is an image ID, not a repository name');
  const at = input.indexOf('@');
  let name = at === -1 ? input : input.slice(0, at);
  const digest = at === -1 ? undefined : parseDigest(input.slice(at + 1)).value;
  const lastColon = name.lastIndexOf(':');
  let tag: string | undefined;
  // A colon after the last slash starts a tag; before it, it is a registry port.
  if (lastColon > name.lastIndexOf('/')) {
    tag = assertTag(name.slice(lastColon + 1));
    name = name.slice(0, lastColon);
  }
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const isRegistry = slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first);
  let registry = isRegistry ? first : 'docker.io';
  let repository = isRegistry ? name.slice(slash + 1) : name;
  if (isRegistry && !domainPattern.test(registry)) throw invalid(input, `"${clip(registry)}" is not a registry host`);
  if (registry === 'index.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length === 0) throw invalid(input, 'it names no repository');
  if (repository.toLowerCase() !== repository) throw invalid(input, `repository "${clip(repository)}" must be lower-case`);
  assertRepository(repository);
  if (registry.length + 1 + repository.length > maxNameLength) throw invalid(input, `the name is longer than ${maxNameLength} characters`);
  const reference = digest ?? tag ?? 'latest';
  return { registry, repository, reference, canonical: `${registry}/${repository}${isDigest(reference) ? '@' : ':'}${reference}` };
}

function invalid(input: string, why: string): OciError {
  return new OciError('NAME_INVALID', `"${clip(input)}" is not a valid image reference: ${why}`);
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
