// The core's options, each part's own slice of the configuration (main.ts builds the core with them).
import type { Router } from '../cache/ports.js';
import type { CoreOptions } from '../cache/pull-through.js';
import { Sanctioned, type SanctionedImage } from '../cache/sanctioned.js';
import { TagPolicies } from '../cache/tag-policy.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { describeError } from '../oci/errors.js';
import { parseImageReference } from '../oci/image-reference.js';

/** Each part of the core gets its own slice of the configuration: no credentials or client auth reach it. */
export function coreOptions(config: Config, router: Router, metrics: Metrics, log: Logger, clock: () => number): CoreOptions {
  const { flightTimeoutMs, upstreamTimeoutMs } = config;
  let lockWarnedAt = 0;
  const sanctioned = config.sanctioned ? new Sanctioned(config.sanctioned.map((ref) => sanctionedImage(router, ref))) : undefined;
  const tagPolicies = new TagPolicies(
    new Map(
      config.upstreams.map(
        (u) => [u.name, { immutableTags: u.immutableTags, immutableTagsMode: u.immutableTagsMode, pins: u.pins, tagTtls: u.tagTtls }] as const,
      ),
    ),
    config.tagTtls,
  );
  return {
    stored: {
      maxCacheBytes: config.maxCacheBytes,
      blobMemoryBytes: config.blobMemoryBytes,
      pinnedDigests: config.pinnedDigests,
      pinnedRepositories: config.pinnedRepositories,
      readTimeoutMs: upstreamTimeoutMs,
      scrubBytesPerSecond: config.scrubBytesPerSecond,
    },
    blobs: { smallBlobBytes: config.smallBlobBytes, flightTimeoutMs, upstreamTimeoutMs, maxBlobBytes: config.maxBlobBytes },
    cluster: {
      flightTimeoutMs,
      onLockFailure: (err) => {
        metrics.redisErrors.inc({ use: 'lock' });
        // Once per outage-ish: every cold blob fails the same way while Redis is away.
        if (Date.now() - lockWarnedAt < 30_000) return;
        lockWarnedAt = Date.now();
        log.warn({ err: describeError(err) }, 'Redis lock unavailable: downloading without cluster-wide single flight');
      },
    },
    manifests: { memoryBytes: config.manifestMemoryBytes, upstreamTimeoutMs },
    tags: {
      ttlMs: config.tagTtlMs,
      missingTtlMs: config.missingTagTtlMs,
      staleTimeoutMs: config.staleTimeoutMs,
      upstreamTimeoutMs,
      policies: tagPolicies,
      clock,
    },
    listings: { upstreamTimeoutMs },
    policies: sanctioned ? [sanctioned] : [],
    ...(config.signatures
      ? {
          signatures: {
            onError: config.signatures.onError,
            exempt: config.signatures.exempt,
            policies: config.signatures.policies,
            deadlineMs: upstreamTimeoutMs,
          },
        }
      : {}),
  };
}

/** A sanctioned-list entry routed the way requests are (aliases and Docker Hub's library/ resolved). */
function sanctionedImage(router: Router, ref: string): SanctionedImage {
  const image = parseImageReference(ref);
  return { route: router.resolve({ ns: image.registry, name: image.repository }), reference: image.reference };
}
