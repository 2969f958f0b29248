// The inventory API under /api/v1/ (JSON, read-only, paginated by cursor): what tender holds, where it came from,
// which tags pointed where, who pulled it. Protected like /metrics when client auth protects `api`.
//
// Every parameter comes from a client: digests are checked, numbers bounded, patterns limited in length; a bad
// one is a 400 naming it, never a 500. Answers come from the inventory's in-memory indexes (no I/O).
import type { Context, Hono } from 'hono';
import type { ListFilter } from '../cache/inventory-index.js';
import type { InventoryQueries } from '../cache/inventory-queries.js';
import { parseDigest } from '../oci/digest.js';
import { parseSince } from './inventory-params.js';
import type { AppEnv } from './request-state.js';

export interface InventoryDeps {
  readonly inventory: InventoryQueries;
}

/** A client's parameter that cannot be used: 400 with its name. */
export class BadParameter extends Error {}

export function mountInventoryRoutes(app: Hono<AppEnv>, deps: InventoryDeps, now: () => number = Date.now): void {
  const { inventory } = deps;
  const api = (handler: (c: Context<AppEnv>) => Response | Promise<Response>) => async (c: Context<AppEnv>) => {
    c.get('state').kind = 'ops';
    try {
      return await handler(c);
    } catch (err) {
      if (err instanceof BadParameter) return c.json({ error: { code: 'BAD_PARAMETER', message: err.message } }, 400);
      throw err;
    }
  };

  app.get(
    '/api/v1/images',
    api((c) => {
      const { filter, cursor, limit } = listParameters(c, now);
      return c.json(inventory.list(filter, cursor, limit));
    }),
  );
  app.get(
    '/api/v1/images/:digest',
    api((c) => {
      const image = inventory.show(digestParameter(c.req.param('digest') ?? ''));
      return image ? c.json(image) : notFound(c, 'no inventory record for this digest');
    }),
  );
  app.get(
    '/api/v1/images/:digest/pulls',
    api((c) => {
      const pulls = inventory.pulls(digestParameter(c.req.param('digest') ?? ''));
      return pulls ? c.json(pulls) : notFound(c, 'no inventory record for this digest');
    }),
  );
  app.get(
    '/api/v1/blobs/:digest/images',
    api((c) => c.json({ images: inventory.contains(digestParameter(c.req.param('digest') ?? '')) })),
  );
  app.get(
    '/api/v1/history',
    api((c) => {
      const upstream = required(c, 'upstream');
      const repository = required(c, 'repository');
      return c.json({ upstream, repository, tags: inventory.history(upstream, repository) });
    }),
  );
}

/** The filters of a listing, as the API, the CLI (`--url`) and the web page pass them. */
export function listParameters(c: Context<AppEnv>, now: () => number): { filter: ListFilter; cursor: string | undefined; limit: number } {
  const query = (name: string): string | undefined => {
    const value = c.req.query(name);
    if (value !== undefined && value.length > 512) throw new BadParameter(`${name}: longer than 512 characters`);
    return value === '' ? undefined : value;
  };
  const bool = (name: string): boolean | undefined => {
    const value = query(name);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw new BadParameter(`${name}: expected true or false`);
    return value === 'true';
  };
  const state = query('state');
  if (state !== undefined && state !== 'cached' && state !== 'evicted' && state !== 'all') throw new BadParameter('state: expected cached, evicted or all');
  const limitText = query('limit');
  const limit = limitText === undefined ? 100 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BadParameter('limit: expected a whole number from 1 to 1000');
  const since = query('pulledSince');
  const pulledSince = since === undefined ? undefined : parseSince(since, now());
  if (since !== undefined && pulledSince === undefined) throw new BadParameter('pulledSince: expected a time (RFC 3339) or a duration ago (24h, 7d)');
  const upstream = query('upstream');
  const repository = query('repository');
  const signed = bool('signed');
  const pinned = bool('pinned');
  const filter: ListFilter = {
    ...(upstream !== undefined ? { upstream } : {}),
    ...(repository !== undefined ? { repository } : {}),
    ...(signed !== undefined ? { signed } : {}),
    ...(pinned !== undefined ? { pinned } : {}),
    ...(pulledSince !== undefined ? { pulledSince } : {}),
    ...(state !== undefined ? { state } : {}),
  };
  return { filter, cursor: query('cursor'), limit };
}

export function digestParameter(value: string): string {
  try {
    return parseDigest(value).value;
  } catch {
    throw new BadParameter('digest: expected <algorithm>:<hex>, such as sha256:<64 hex>');
  }
}

function required(c: Context<AppEnv>, name: string): string {
  const value = c.req.query(name);
  if (!value) throw new BadParameter(`${name}: required`);
  if (value.length > 512) throw new BadParameter(`${name}: longer than 512 characters`);
  return value;
}

function notFound(c: Context<AppEnv>, message: string): Response {
  return c.json({ error: { code: 'NOT_FOUND', message } }, 404);
}
