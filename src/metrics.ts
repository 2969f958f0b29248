// Every metric tender exports, in one place; labels come from closed sets (never repositories or digests).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AuditMetrics } from './metrics/audit-metrics.js';
import { TalliedCounter } from './metrics/tallied-counter.js';
import { TalliedHistogram } from './metrics/tallied-histogram.js';
import { credentialBackoffsCounter, credentialReloadsCounter, missingTagHitsCounter } from './metrics/upstream-call-counters.js';

export type CacheKind = 'manifest' | 'blob' | 'tag';
export type CacheResult = 'hit' | 'miss' | 'joined' | 'stale' | 'denied' | 'error';

export class Metrics {
  readonly registry = new Registry();

  // The three series of every request count in plain numbers, given to prom-client at collection (tallied-counter.ts).
  readonly requests = new TalliedCounter(
    { name: 'tender_http_requests_total', help: 'Client requests by route kind, method and status.', registers: [this.registry] },
    ['kind', 'method', 'status'] as const,
  );

  readonly cacheResults = new TalliedCounter(
    {
      name: 'tender_cache_results_total',
      help: 'Cache lookups by upstream, kind (manifest|blob|tag) and result (hit|miss|joined|stale|denied|error).',
      registers: [this.registry],
    },
    ['upstream', 'kind', 'result'] as const,
  );

  readonly bytesServed = new TalliedCounter(
    { name: 'tender_bytes_served_total', help: 'Body bytes sent to clients, by upstream and source (cache|upstream).', registers: [this.registry] },
    ['upstream', 'source'] as const,
  );

  readonly timeToFirstByte = new TalliedHistogram(
    'tender_time_to_first_byte_seconds',
    'From request arrival to the first body byte handed to the socket, by kind (manifest|blob|tag) and cache result.',
    ['kind', 'result'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    this.registry,
  );

  readonly rateLimitRemaining = new Gauge({
    name: 'tender_upstream_ratelimit_remaining',
    help: 'Pulls left in the upstream rate-limit window, from its ratelimit-remaining header (Docker Hub).',
    labelNames: ['upstream'] as const,
    // Workers each see the header of their own last request: the fewest left is the truth.
    aggregator: 'min',
    registers: [this.registry],
  });

  readonly upstreamRequests = new Counter({
    name: 'tender_upstream_requests_total',
    help: 'Requests sent to upstream registries, by upstream, method and status (or "error" for no answer).',
    labelNames: ['upstream', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'tender_upstream_request_duration_seconds',
    help: 'Time to upstream response headers, by upstream and status.',
    labelNames: ['upstream', 'status'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly upstreamBytes = new Counter({
    name: 'tender_upstream_bytes_total',
    help: 'Blob bytes received from upstream registries.',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });

  readonly upstreamQueueDepth = new Gauge({
    name: 'tender_upstream_queue_depth',
    help: 'Requests waiting for a free slot under the upstream concurrency limit.',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });

  readonly upstreamResumes = new Counter({
    name: 'tender_upstream_resumes_total',
    help: 'Blob downloads resumed with a Range request after their connection broke.',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });

  readonly tokenFetches = new Counter({
    name: 'tender_upstream_token_fetches_total',
    help: 'Bearer tokens fetched from upstream auth realms, by upstream and result.',
    labelNames: ['upstream', 'result'] as const,
    registers: [this.registry],
  });

  readonly flightsInProgress = new Gauge({
    name: 'tender_flights_in_progress',
    help: 'Upstream blob fetches in progress.',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });

  readonly digestMismatches = new Counter({
    name: 'tender_digest_mismatches_total',
    help: 'Upstream content refused because it did not match its digest or length.',
    labelNames: ['upstream', 'kind'] as const,
    registers: [this.registry],
  });

  readonly cacheWriteErrors = new Counter({
    name: 'tender_cache_write_errors_total',
    help: 'Failures writing to the cache directory, by kind (blob|manifest|metadata); the pull is served all the same.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly cacheCorruptions = new Counter({
    name: 'tender_cache_corruptions_total',
    help: 'Cached files found damaged at serve time or by the scrub, by kind (manifest|blob) and reason (size|digest); quarantined and fetched again.',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  readonly scrubbedBytes = new Counter({
    name: 'tender_cache_scrubbed_bytes_total',
    help: 'Bytes of cached files re-hashed by the background scrub (scrubRate).',
    registers: [this.registry],
  });

  readonly denials = new Counter({
    name: 'tender_denials_total',
    help: 'Requests refused with DENIED, by upstream ("unknown" when none matched) and reason.',
    labelNames: ['upstream', 'reason'] as const,
    registers: [this.registry],
  });

  readonly signatureVerdicts = new Counter({
    name: 'tender_signature_verdicts_total',
    help: 'Signature policy verdicts on manifests, by policy (configured names) and verdict (verified|admitted|evidence|refused|warned|fail-open|unavailable).',
    labelNames: ['policy', 'verdict'] as const,
    registers: [this.registry],
  });

  readonly tagChangesRefused = new Counter({
    name: 'tender_tag_changes_refused_total',
    help: 'Upstream moves of immutable tags, by upstream and mode (enforce: not followed; warn: followed and logged).',
    labelNames: ['upstream', 'mode'] as const,
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'tender_client_auth_failures_total',
    help: 'Client requests with wrong credentials (a request without any is not a failure).',
    registers: [this.registry],
  });

  readonly authThrottled = new Counter({
    name: 'tender_client_auth_throttled_total',
    help: 'Client login attempts refused without a password check (429), by scope: user or address over the failure limit, or busy (password check queue full).',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  readonly admissionDecisions = new Counter({
    name: 'tender_admission_decisions_total',
    help: 'Admission decisions, one per distinct image of a review, by endpoint (imagepolicy|validate) and verdict (allow|deny|warn|exempt|break-glass).',
    labelNames: ['endpoint', 'verdict'] as const,
    registers: [this.registry],
  });

  readonly cacheReadErrors = new Counter({
    name: 'tender_cache_read_errors_total',
    help: 'Failures reading cache metadata, by kind (tag|manifest|link|listing); the pull goes on as if nothing was recorded.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly redisErrors = new Counter({
    name: 'tender_redis_errors_total',
    help: 'Failed Redis operations, by use (metadata|lock); tender falls back to local metadata and single flight.',
    labelNames: ['use'] as const,
    registers: [this.registry],
  });

  readonly evictions = new Counter({
    name: 'tender_evictions_total',
    help: 'Blobs evicted to keep the cache under maxCacheSize.',
    registers: [this.registry],
  });

  readonly evictedBytes = new Counter({
    name: 'tender_evicted_bytes_total',
    help: 'Bytes evicted to keep the cache under maxCacheSize.',
    registers: [this.registry],
  });

  readonly cacheBytes = new Gauge({
    name: 'tender_cache_bytes',
    // Every worker's index is the host's (cache-news.ts): the same figure, not a sum.
    aggregator: 'max',
    help: 'Bytes of verified content in the cache.',
    registers: [this.registry],
  });

  readonly cacheMaxBytes = new Gauge({
    name: 'tender_cache_max_bytes',
    // Every worker's index is the host's (cache-news.ts): the same figure, not a sum.
    aggregator: 'max',
    help: 'The configured maxCacheSize in bytes; 0 when the cache has no cap.',
    registers: [this.registry],
  });

  readonly cacheObjects = new Gauge({
    name: 'tender_cache_objects',
    // Every worker's index is the host's (cache-news.ts): the same figure, not a sum.
    aggregator: 'max',
    help: 'Blobs and manifests in the cache.',
    registers: [this.registry],
  });

  readonly tagRevalidations = new Counter({
    name: 'tender_tag_revalidations_total',
    help: 'Upstream HEADs revalidating an expired tag, by upstream and outcome (unchanged|changed|refused|error|timeout|gone).',
    labelNames: ['upstream', 'outcome'] as const,
    registers: [this.registry],
  });

  /** The pull audit's delivery (issue 15): per sink (file|http). */
  readonly audit = new AuditMetrics(this.registry);

  readonly inventoryRecords = new Gauge({
    name: 'tender_inventory_records',
    help: 'Inventory records (cached manifests and indexes, and evicted ones within the retention).',
    registers: [this.registry],
  });

  readonly inventoryWriteErrors = new Counter({
    name: 'tender_inventory_write_errors_total',
    help: 'Failed batched writes of inventory records; they stay in memory and are written at the next flush.',
    registers: [this.registry],
  });

  readonly missingTagHits = missingTagHitsCounter(this.registry);
  readonly credentialBackoffs = credentialBackoffsCounter(this.registry);
  readonly credentialReloads = credentialReloadsCounter(this.registry);

  /** Resident memory per serving process, so a worker that grows shows on its own (issue 17). */
  readonly workerMemory: Gauge<'worker'>;

  constructor(options: { processMetrics: boolean; worker?: string } = { processMetrics: true }) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
    const worker = options.worker ?? '0';
    this.workerMemory = new Gauge({
      name: 'tender_worker_resident_memory_bytes',
      help: 'Resident memory of each serving process, by worker ("0": tender runs as one process).',
      labelNames: ['worker'] as const,
      registers: options.processMetrics ? [this.registry] : [],
      collect() {
        this.set({ worker }, process.memoryUsage.rss());
      },
    });
  }

  /** The admission series at 0, when the endpoints are served (an alert on break-glass must see the first one). */
  initializeAdmission(): void {
    for (const endpoint of ['imagepolicy', 'validate'] as const) {
      for (const verdict of ['allow', 'deny', 'warn', 'exempt', 'break-glass'] as const) this.admissionDecisions.inc({ endpoint, verdict }, 0);
    }
  }

  /**
   * Creates the series alerts and dashboards count on at 0, per upstream: a labelled counter born at its
   * first increment has no earlier sample, so rate() and increase() would never see that first event.
   */
  initialize(upstreams: readonly string[]): void {
    for (const upstream of upstreams) {
      for (const kind of ['manifest', 'blob'] as const) this.digestMismatches.inc({ upstream, kind }, 0);
      for (const source of ['cache', 'upstream'] as const) this.bytesServed.counter.inc({ upstream, source }, 0);
      for (const kind of ['manifest', 'blob', 'tag'] as const) {
        for (const result of ['hit', 'miss', 'joined', 'stale', 'denied', 'error'] as const) this.cacheResults.counter.inc({ upstream, kind, result }, 0);
      }
      this.upstreamBytes.inc({ upstream }, 0);
      this.flightsInProgress.inc({ upstream }, 0);
      this.upstreamQueueDepth.set({ upstream }, 0);
      this.missingTagHits.inc({ upstream }, 0);
      this.credentialBackoffs.inc({ upstream }, 0);
    }
    for (const kind of ['manifest', 'blob', 'metadata'] as const) this.cacheWriteErrors.inc({ kind }, 0);
    for (const kind of ['tag', 'manifest', 'link', 'listing', 'signature'] as const) this.cacheReadErrors.inc({ kind }, 0);
    for (const kind of ['manifest', 'blob'] as const) for (const reason of ['size', 'digest'] as const) this.cacheCorruptions.inc({ kind, reason }, 0);
    this.evictions.inc(0);
    this.scrubbedBytes.inc(0);
    this.evictedBytes.inc(0);
    this.authFailures.inc(0);
    for (const scope of ['user', 'address', 'busy'] as const) this.authThrottled.inc({ scope }, 0);
    for (const use of ['metadata', 'lock'] as const) this.redisErrors.inc({ use }, 0);
    this.inventoryWriteErrors.inc(0);
  }
}
