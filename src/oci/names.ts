// Repository names, tags and registry hosts by the distribution grammar (distribution/reference).
import { OciError } from './errors.js';

/** distribution's limit on a whole repository name. */
export const maxNameLength = 255;

const component = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const repositoryPattern = new RegExp(`^${component}(?:/${component})*$`);
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
// A registry host as it appears as the first path component: a DNS name or IPv4 with an optional port.
const hostPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$/;

export function isValidRepository(name: string): boolean {
  return name.length > 0 && name.length <= maxNameLength && repositoryPattern.test(name);
}

export function assertRepository(name: string): string {
  if (!isValidRepository(name)) {
    throw new OciError(
      'NAME_INVALID',
      `invalid repository name "${clip(name)}": expected lowercase path components separated by "/", at most ${maxNameLength} characters`,
    );
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}

export function assertTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new OciError('MANIFEST_INVALID', `invalid tag "${clip(tag)}": expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, {
      detail: { tag: clip(tag) },
    });
  }
  return tag;
}

/** A first path component that names a registry rather than a repository: has a dot or port, or is localhost. */
export function looksLikeHost(component: string): boolean {
  return (component.includes('.') || component.includes(':') || component === 'localhost') && hostPattern.test(component);
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/**
 * A repository (or repository pattern) as Docker Hub names it: one component means library/<name>.
 * Applied to requests and to configured patterns alike, so `nginx` in a rule matches what is pulled.
 */
export function dockerHubName(upstream: string, repository: string): string {
  return upstream === 'docker.io' && !repository.includes('/') && !repository.startsWith('*') ? `library/${repository}` : repository;
}
