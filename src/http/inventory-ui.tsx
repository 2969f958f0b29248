// The read-only web page at /ui/: cached images, one image's provenance, a digest search. Server-rendered with
// hono's JSX: no client framework, no script, no external asset (the style is inline), so it works in an air gap.
// Text is escaped by the JSX renderer; every parameter goes through the API's checks (inventory-routes.ts).
import type { Context, Hono } from 'hono';
import type { ImageDetail } from '../cache/inventory-queries.js';
import { ImageRows, Page, Pairs, Signature, bytes, short } from './inventory-ui-parts.js';
import { BadParameter, digestParameter, listParameters, type InventoryDeps } from './inventory-routes.js';
import type { AppEnv } from './request-state.js';

function ImagePage(props: { image: ImageDetail }) {
  const { image } = props;
  return (
    <Page title={`${image.repository}@${short(image.digest)}`}>
      <h1 style="font-size:18px">
        {`${image.upstream}/${image.repository}`} <code>{image.digest}</code>
      </h1>
      <dl>
        <dt>Media type</dt>
        <dd>{image.mediaType + (image.artifactType ? ` (artifact ${image.artifactType})` : '')}</dd>
        {image.platforms ? (
          <>
            <dt>Platforms</dt>
            <dd>{image.platforms.join(', ')}</dd>
          </>
        ) : null}
        <dt>Source</dt>
        <dd>{image.source + (image.bundle ? ` (bundle sha256:${image.bundle})` : '')}</dd>
        <dt>First fetched</dt>
        <dd>{image.firstFetched}</dd>
        <dt>Last verified upstream</dt>
        <dd>{image.lastVerified}</dd>
        <dt>Cache</dt>
        <dd>{`${image.state}, ${bytes(image.cache.bytesOnDisk)} on disk, ${image.cache.pinned ? 'pinned' : 'evictable'}`}</dd>
        <dt>Signature</dt>
        <dd>
          <Signature state={image.trust.signature} />
          {image.trust.verdicts.map(
            (v) => ` ${v.policy}: ${v.verified ? 'verified' : 'failed'}${v.key ? ` by key ${v.key}` : ''} at ${v.at}${v.detail ? ` (${v.detail})` : ''}`,
          )}
        </dd>
      </dl>
      <h2>Labels</h2>
      <Pairs entries={image.labels} empty="no labels (or the config is not cached yet)" />
      <h2>Annotations</h2>
      <Pairs entries={image.annotations} empty="no annotations" />
      <h2>Tag history</h2>
      <table>
        <thead>
          <tr>
            <th>Tag</th>
            <th>First seen here</th>
            <th>Last confirmed</th>
            <th>Points here now</th>
          </tr>
        </thead>
        <tbody>
          {image.tagHistory.map((t) => (
            <tr>
              <td>
                <a
                  href={`/ui/history?upstream=${encodeURIComponent(t.upstream)}&repository=${encodeURIComponent(t.repository)}`}
                >{`${t.upstream}/${t.repository}:${t.tag}`}</a>
              </td>
              <td>{t.firstSeen}</td>
              <td>{t.lastSeen}</td>
              <td>{t.current ? <span class="ok">yes</span> : <span class="bad">moved away</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Referrers</h2>
      {image.referrers.length === 0 ? (
        <p class="dim">none cached</p>
      ) : (
        <ul>
          {image.referrers.map((r) => (
            <li>
              <a href={`/ui/images/${r.digest}`}>
                <code>{short(r.digest)}</code>
              </a>{' '}
              {r.kind ? `cosign .${r.kind} ` : ''}
              {r.artifactType ?? r.mediaType}
            </li>
          ))}
        </ul>
      )}
      <h2>Pulls</h2>
      <p>{`${image.pullStats.pulls} pulls (${image.pullStats.hits} from the cache), ${image.pullStats.distinctClients24h}${image.pullStats.distinctClientsAtLeast ? '+' : ''} distinct clients in the last 24 h`}</p>
      <table>
        <thead>
          <tr>
            <th>When</th>
            <th>Client</th>
            <th>Tag</th>
            <th>Method</th>
            <th>Result</th>
            <th>User agent</th>
          </tr>
        </thead>
        <tbody>
          {image.pullStats.recent.map((p) => (
            <tr>
              <td>{p.at}</td>
              <td>{p.client}</td>
              <td>{p.tag ?? ''}</td>
              <td>{p.method}</td>
              <td>{p.result}</td>
              <td>{p.userAgent ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}

export function mountInventoryUi(app: Hono<AppEnv>, deps: InventoryDeps, now: () => number = Date.now): void {
  const { inventory } = deps;
  const page = (handler: (c: Context<AppEnv>) => Response | Promise<Response>) => async (c: Context<AppEnv>) => {
    c.get('state').kind = 'ops';
    try {
      return await handler(c);
    } catch (err) {
      if (!(err instanceof BadParameter)) throw err;
      return c.html(<Page title="Bad request">{<p class="bad">{err.message}</p>}</Page>, 400);
    }
  };
  app.get('/ui', (c) => c.redirect('/ui/'));
  app.get(
    '/ui/',
    page((c) => {
      const { filter, cursor, limit } = listParameters(c, now);
      const listed = inventory.list(filter, cursor, limit);
      const next = new URLSearchParams(c.req.query());
      if (listed.next) next.set('cursor', listed.next);
      return c.html(
        <Page title="Images">
          <form method="get" action="/ui/">
            <input name="upstream" placeholder="upstream" value={filter.upstream ?? ''} />
            <input name="repository" placeholder="repository pattern (library/*)" value={filter.repository ?? ''} />
            <button type="submit">Filter</button>
          </form>
          <p class="dim">{`${inventory.count} records`}</p>
          <ImageRows images={listed.images} />
          {listed.next ? <a href={`/ui/?${next.toString()}`}>next page</a> : null}
        </Page>,
      );
    }),
  );
  app.get(
    '/ui/images/:digest',
    page((c) => {
      const image = inventory.show(digestParameter(c.req.param('digest') ?? ''));
      if (!image) return c.html(<Page title="Not found">{<p>No inventory record for this digest.</p>}</Page>, 404);
      return c.html(<ImagePage image={image} />);
    }),
  );
  app.get(
    '/ui/search',
    page((c) => {
      const digest = digestParameter((c.req.query('digest') ?? '').trim());
      if (inventory.show(digest)) return c.redirect(`/ui/images/${digest}`);
      const images = inventory.contains(digest);
      return c.html(
        <Page title="Search">
          <h2>{`Images containing ${digest}`}</h2>
          {images.length === 0 ? <p>No cached image contains this digest.</p> : <ImageRows images={images} />}
        </Page>,
      );
    }),
  );
  app.get(
    '/ui/history',
    page((c) => {
      const upstream = c.req.query('upstream') ?? '';
      const repository = c.req.query('repository') ?? '';
      if (!upstream || !repository || upstream.length > 512 || repository.length > 512) throw new BadParameter('upstream and repository are required');
      const history = inventory.history(upstream, repository);
      return c.html(
        <Page title={`${upstream}/${repository}`}>
          <h2>{`Tag history of ${upstream}/${repository}`}</h2>
          <table>
            <thead>
              <tr>
                <th>Tag</th>
                <th>Digest</th>
                <th>First seen</th>
                <th>Last confirmed</th>
                <th>Current</th>
              </tr>
            </thead>
            <tbody>
              {history.map((h) => (
                <tr>
                  <td>{h.tag}</td>
                  <td>
                    <a href={`/ui/images/${h.digest}`}>
                      <code>{short(h.digest)}</code>
                    </a>
                  </td>
                  <td>{h.firstSeen}</td>
                  <td>{h.lastSeen}</td>
                  <td>{h.current ? 'yes' : 'no'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Page>,
      );
    }),
  );
}
