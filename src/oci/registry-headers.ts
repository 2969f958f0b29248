// Header names and values registries send (distribution-spec), spelled once.

export const registryHeaders = {
  apiVersion: 'Docker-Distribution-API-Version',
  contentDigest: 'Docker-Content-Digest',
  ociNamespace: 'OCI-Namespace',
  ociFiltersApplied: 'OCI-Filters-Applied',
} as const;

export const apiVersionValue = 'registry/2.0';

/** The strong entity tag of content-addressed bytes: their digest, quoted, as distribution sends it. */
export function digestETag(digest: string): string {
  return `"${digest}"`;
}
