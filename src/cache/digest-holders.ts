// The digests under one key of the inventory's indexes (blob → manifests, tag → digests, …), kept small.

/**
 * The digests under one index key: most keys (a layer of one image, a tag seen once) have one, so it is kept as
 * the string itself and becomes a Set only when a second arrives: 100,000 records would otherwise cost 400,000 Sets.
 */
export type Holders = string | Set<string>;

export function add(map: Map<string, Holders>, key: string, digest: string): void {
  const held = map.get(key);
  if (held === undefined) map.set(key, digest);
  else if (typeof held === 'string') {
    if (held !== digest) map.set(key, new Set([held, digest]));
  } else held.add(digest);
}

export function drop(map: Map<string, Holders>, key: string, digest: string): void {
  const held = map.get(key);
  if (held === undefined) return;
  if (typeof held === 'string') {
    if (held === digest) map.delete(key);
    return;
  }
  held.delete(digest);
  if (held.size === 1) map.set(key, held.values().next().value!);
}

export function holders(map: Map<string, Holders>, key: string): Iterable<string> {
  const held = map.get(key);
  return held === undefined ? [] : typeof held === 'string' ? [held] : held;
}
