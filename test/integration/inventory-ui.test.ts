// The inventory at scale and in a real browser: 100,000 synthetic records in the cache directory's inventory log
// plus one image pulled through tender from a real upstream; the API's answers and the /ui/ pages, loaded in
// Debian's headless Chromium (driven by playwright-core), with a screenshot. Timings are printed for the record,
// never asserted (speed is measured in bench/).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeWithBinaries } from '../helpers/binaries.js';
import { containerdAccept, http } from '../helpers/http-client.js';
import { pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type RegistryHandle } from '../helpers/registry.js';
import { startTender, type TenderHandle } from '../helpers/tender.js';
import { baseLayer, syntheticDigest, syntheticLog } from '../helpers/synthetic-inventory.js';

const synthetic = 100_000;
const hex = syntheticDigest;

const browserFlags = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describeWithBinaries(['docker-registry', 'chromium'], 'inventory API and web page with 100,000 records, in Chromium', () => {
  let registry: RegistryHandle;
  let tender: TenderHandle;
  let browser: BrowserContext;
  let dir: string;
  let image: PushedImage;
  const timings: string[] = [];

  const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    timings.push(`${what}: ${(performance.now() - started).toFixed(1)} ms`);
    return result;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tender-inventory-ui-'));
    const cacheDir = join(dir, 'cache');
    await mkdir(join(cacheDir, 'inventory'), { recursive: true });
    const now = Date.now();
    await writeFile(join(cacheDir, 'inventory', 'records.jsonl'), syntheticLog(synthetic, now));
    registry = await startRegistry();
    image = await pushImage(registry, 'web/shop', 'v3', {
      layerSizes: [4000],
      seed: 'inventory-ui',
      labels: { 'org.opencontainers.image.source': 'https://git.example/web/shop', 'org.opencontainers.image.revision': '0c0ffee' },
      annotations: { 'org.opencontainers.image.version': '3.0.0', 'org.opencontainers.image.title': 'shop <b>front</b>' },
    });
    tender = await timed('tender start with 100,000 inventory records', () =>
      startTender({ upstreams: { 'registry.test': registry.url }, cacheDir, settings: { inventory: { flushInterval: '1s' } } }),
    );
    const pull = (path: string) =>
      http(`${tender.url}/v2/registry.test/web/shop/${path}`, { headers: { accept: containerdAccept, 'user-agent': 'containerd/v2.0.0' } });
    expect((await pull('manifests/v3')).status).toBe(200);
    for (const blob of [image.config, ...image.layers]) expect((await pull(`blobs/${blob.digest}`)).status).toBe(200);
    browser = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: browserFlags,
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await tender?.stop();
    await registry?.stop();
    // The timings for the record (the report quotes them); the screenshot stays in the temp dir.
    console.log(`inventory with ${synthetic} synthetic records (load average ${loadavg()[0]!.toFixed(1)}):\n  ${timings.join('\n  ')}`);
    if (dir) await rm(join(dir, 'cache'), { recursive: true, force: true });
  });

  const api = async <T>(what: string, path: string): Promise<T> => {
    const answer = await timed(what, () => http(`${tender.url}${path}`));
    expect(answer.status, answer.body.toString()).toBe(200);
    return JSON.parse(answer.body.toString()) as T;
  };

  it('answers the API over 100,000 records: pages, filters, one record, contains, history', async () => {
    const first = await api<{ images: Array<{ digest: string }>; next: string }>('GET /api/v1/images (first page of 100)', '/api/v1/images');
    expect(first.images).toHaveLength(100);
    expect(first.images[0]!.digest).toBe(image.digest); // the newest
    const second = await api<{ images: Array<{ digest: string }> }>('GET /api/v1/images (second page, cursor)', `/api/v1/images?cursor=${first.next}`);
    expect(second.images[0]!.digest).toBe(hex(synthetic - 100, 'a'));
    const filtered = await api<{ images: Array<{ repository: string }> }>(
      'GET /api/v1/images?upstream=ghcr.io&repository=team7/* (a filter that scans)',
      '/api/v1/images?upstream=ghcr.io&repository=team7/*&limit=1000',
    );
    expect(filtered.images.length).toBeGreaterThan(0);
    expect(filtered.images.every((i) => i.repository.startsWith('team7/'))).toBe(true);
    const rare = await api<{ images: unknown[] }>('GET /api/v1/images?repository=nothing/* (scans all, finds none)', '/api/v1/images?repository=nothing/*');
    expect(rare.images).toEqual([]);
    const shown = await api<{ tags: string[] }>('GET /api/v1/images/<digest>', `/api/v1/images/${hex(4242, 'a')}`);
    expect(shown.tags).toEqual(['v4242']);
    const shared = await api<{ images: unknown[] }>('GET /api/v1/blobs/<shared base layer>/images (1,000 images)', `/api/v1/blobs/${baseLayer(42)}/images`);
    expect(shared.images).toHaveLength(synthetic / 100);
    const history = await api<{ tags: unknown[] }>('GET /api/v1/history (133 tags)', '/api/v1/history?upstream=docker.io&repository=team1/svc1');
    const expected = Array.from({ length: synthetic }, (_, i) => i).filter((i) => i % 500 === 1 && i % 3 !== 0).length;
    expect(history.tags).toHaveLength(expected);
  });

  it('renders the images list, an image page and the digest search in a real browser', async () => {
    const page = await browser.newPage();
    await timed('Chromium: load /ui/ (100 of 100,001 images)', () => page.goto(`${tender.url}/ui/`));
    expect(await page.title()).toBe('Images — tender');
    expect(await page.locator('tbody tr').count()).toBe(100);
    const firstRow = page.locator('tbody tr').first();
    expect(await firstRow.innerText()).toContain('registry.test/web/shop');
    expect(await firstRow.innerText()).toContain('v3');

    // The digest search box, as an operator uses it: a layer finds the image that contains it.
    await page.fill('input[name=digest]', image.layers[0]!.digest);
    await timed('Chromium: search a layer digest', () => Promise.all([page.waitForURL(/\/ui\/search/), page.click('header button')]));
    expect(await page.locator('h2').first().innerText()).toContain(image.layers[0]!.digest);
    await page.click(`a[href="/ui/images/${image.digest}"]`);
    await page.waitForURL(`**/ui/images/${image.digest}`);
    await vi.waitFor(
      async () => {
        await page.reload();
        expect(await page.locator('body').innerText()).toContain('https://git.example/web/shop');
      },
      { timeout: 10_000 },
    );
    const body = await page.locator('body').innerText();
    expect(body).toContain('org.opencontainers.image.revision');
    expect(body).toContain('3.0.0');
    expect(body).toContain('registry.test/web/shop:v3');
    expect(body).toContain('containerd/v2.0.0');
    // Escaped, never markup: the annotation's <b> is text.
    expect(await page.locator('b').count()).toBe(0);
    expect(body).toContain('shop <b>front</b>');
    const shot = join(dir, 'inventory-image-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    timings.push(`screenshot: ${shot}`);

    // A search for a manifest digest goes straight to its page; a digest nobody holds says so.
    await page.goto(`${tender.url}/ui/search?digest=${hex(7, 'a')}`);
    expect(page.url()).toContain(`/ui/images/${hex(7, 'a')}`);
    await page.goto(`${tender.url}/ui/search?digest=${hex(1, 'dead')}`);
    expect(await page.locator('main').innerText()).toContain('No cached image contains this digest.');
    const bad = await page.goto(`${tender.url}/ui/search?digest=not-a-digest`);
    expect(bad?.status()).toBe(400);
    // No request left the page for anything but tender (no external assets).
    await page.close();
  });
});
