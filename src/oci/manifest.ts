// What a manifest refers to: child manifests (index / manifest list) and blobs (config, layers).

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly os?: string; readonly architecture?: string; readonly variant?: string };
}

export interface References {
  /** Child manifests of an index or manifest list. */
  readonly manifests: readonly Descriptor[];
  /** Config and layers of an image manifest (or artifact). */
  readonly blobs: readonly Descriptor[];
}

/** The descriptors a manifest body points at; an unreadable body points at nothing. */
export function referencesOf(body: Buffer): References {
  let parsed: { manifests?: unknown; config?: unknown; layers?: unknown; blobs?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    return { manifests: [], blobs: [] };
  }
  const list = (value: unknown): Descriptor[] => (Array.isArray(value) ? value.filter(isDescriptor) : []);
  return {
    manifests: list(parsed.manifests),
    blobs: [...list(parsed.config ? [parsed.config] : []), ...list(parsed.layers), ...list(parsed.blobs)],
  };
}

/** Matches `os/architecture[/variant]` against a descriptor's platform. */
export function matchesPlatform(descriptor: Descriptor, platform: string): boolean {
  const [os, architecture, variant] = platform.split('/');
  const p = descriptor.platform;
  return p?.os === os && p?.architecture === architecture && (variant === undefined || p?.variant === variant);
}

function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Partial<Descriptor> | null;
  return typeof d?.digest === 'string' && typeof d.size === 'number' && typeof d.mediaType === 'string';
}
