// The pieces of the inventory's web page: the page frame (inline style, the digest search box), the images
// table, key/value tables. No script, no external asset: it works offline.
import type { Child } from 'hono/jsx';
import type { ImageSummary } from '../cache/inventory-queries.js';

const style = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:16px 20px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2}
code{font:12px ui-monospace,monospace}
.ok{color:#1a7f37}.bad{color:#cf222e}.dim{color:#6e7781}
form{display:inline-flex;gap:6px;margin:0 0 12px}
input{padding:3px 6px}
h2{margin:18px 0 6px;font-size:16px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;background:#fff;padding:8px}
dt{font-weight:600}`;

export function Page(props: { title: string; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>{`${props.title} — tender`}</title>
        <style>{style}</style>
      </head>
      <body>
        <header>
          <a href="/ui/">tender inventory</a>
          <form method="get" action="/ui/search" style="margin:0">
            <input name="digest" placeholder="sha256:… (manifest, config or layer)" size={60} aria-label="digest" />
            <button type="submit">Search</button>
          </form>
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}

export const short = (digest: string): string => digest.replace(/^(sha\d+:)(.{12}).*$/, '$1$2');
export const bytes = (n: number): string =>
  n >= 1 << 30
    ? `${(n / (1 << 30)).toFixed(1)} GiB`
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(1)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;
export const Signature = (props: { state: string }) => (
  <span class={props.state === 'verified' ? 'ok' : props.state === 'failed' ? 'bad' : 'dim'}>{props.state}</span>
);

export function ImageRows(props: { images: readonly ImageSummary[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th>Digest</th>
          <th>Upstream / repository</th>
          <th>Tags</th>
          <th>Type</th>
          <th>Size on disk</th>
          <th>Signature</th>
          <th>Source</th>
          <th>Pulls</th>
          <th>Last pulled</th>
        </tr>
      </thead>
      <tbody>
        {props.images.map((image) => (
          <tr>
            <td>
              <a href={`/ui/images/${image.digest}`}>
                <code>{short(image.digest)}</code>
              </a>
            </td>
            <td>{`${image.upstream}/${image.repository}`}</td>
            <td>{image.tags.join(', ') || <span class="dim">none</span>}</td>
            <td>{image.platforms ? `index (${image.platforms.join(', ')})` : (image.artifactType ?? image.mediaType.replace(/^application\//, ''))}</td>
            <td>{image.state === 'evicted' ? <span class="dim">evicted</span> : bytes(image.bytesOnDisk)}</td>
            <td>
              <Signature state={image.signature} />
            </td>
            <td>{image.source}</td>
            <td>{image.pulls}</td>
            <td>{image.lastPulled ?? <span class="dim">never</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Pairs(props: { entries: Readonly<Record<string, string>>; empty: string }) {
  const entries = Object.entries(props.entries);
  if (entries.length === 0) return <p class="dim">{props.empty}</p>;
  return (
    <table>
      <tbody>
        {entries.map(([key, value]) => (
          <tr>
            <th>{key}</th>
            <td>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
