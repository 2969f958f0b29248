// Image lists: what `tender seed --file` and `export --file` read, and what `sanctioned.file` names.
import { parse as parseYaml } from 'yaml';

export interface ImageListEntry {
  readonly ref: string;
  /** os/architecture[/variant]; all platforms of an index when absent. */
  readonly platforms?: readonly string[];
}

/** Reads an image list: YAML `images:` entries as strings or `{ ref, platforms }`. */
export function parseImageList(text: string): ImageListEntry[] {
  const parsed = parseYaml(text) as { images?: unknown } | null;
  const entries = parsed?.images;
  if (!Array.isArray(entries)) throw new Error('expected a YAML document with an "images:" list');
  return entries.map((entry, i) => {
    if (typeof entry === 'string' && entry.length > 0) return { ref: entry };
    const { ref, platforms } = (entry ?? {}) as { ref?: unknown; platforms?: unknown };
    if (typeof ref !== 'string' || ref.length === 0) throw new Error(`images[${i}]: expected a reference or { ref, platforms }`);
    if (
      platforms !== undefined &&
      !(Array.isArray(platforms) && platforms.every((p) => typeof p === 'string' && /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(p)))
    ) {
      throw new Error(`images[${i}].platforms: expected a list such as ["linux/amd64", "linux/arm64/v8"]`);
    }
    return platforms === undefined ? { ref } : { ref, platforms: platforms as string[] };
  });
}
