// Image references as people write them (`nginx:1.27`, `ghcr.io/org/app@sha256:…`), normalised the way docker does.
import { isDigest, parseDigest } from './digest.js';
import { OciError } from './errors.js';
import { assertRepository, assertTag, looksLikeHost } from './names.js';

export interface ImageReference {
  /** Registry host as clients name it (`docker.io` for Docker Hub). */
  readonly registry: string;
  readonly repository: string;
  /** A tag or a digest. */
  readonly reference: string;
  /** The canonical string: registry/repository:tag or registry/repository@digest. */
  readonly canonical: string;
}

export function parseImageReference(input: string): ImageReference {
  const text = input.trim();
  const at = text.indexOf('@');
  let name = at === -1 ? text : text.slice(0, at);
  let reference = at === -1 ? undefined : parseDigest(text.slice(at + 1)).value;
  const lastColon = name.lastIndexOf(':');
  // A colon after the last slash is a tag; before it, a registry port.
  if (lastColon > name.lastIndexOf('/')) {
    const tag = assertTag(name.slice(lastColon + 1));
    name = name.slice(0, lastColon);
    reference ??= tag;
  }
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const registry = slash !== -1 && looksLikeHost(first) ? first : 'docker.io';
  let repository = registry === first ? name.slice(slash + 1) : name;
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (!repository) throw new OciError('NAME_INVALID', `"${input}" names no repository`);
  assertRepository(repository);
  const ref = reference ?? 'latest';
  return { registry, repository, reference: ref, canonical: `${registry}/${repository}${isDigest(ref) ? '@' : ':'}${ref}` };
}
