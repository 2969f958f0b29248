// The two wire formats of a pull event, against hand-written fixtures: the JSON-lines record and distribution's
// notification envelope (field names from distribution's notifications/event.go and its notifications docs).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { notificationEvent, notificationMediaType, type NotificationSource } from '../../../src/audit/notification-format.js';
import { pullEventLine } from '../../../src/audit/pull-event-line.js';
import type { PullEvent } from '../../../src/cache/pull-events.js';
import { sampleEvent } from './audit-test-kit.js';

const fixture = async (name: string): Promise<unknown> => JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', name), 'utf8'));

const source: NotificationSource = { addr: 'tender-0:5000', instanceID: '9b2f6c1e-5d4a-4e3b-8c7d-1a2b3c4d5e6f', baseUrl: 'https://mirror.example:5000/' };

/** The sample pull by digest, anonymous, from a client that sent no User-Agent or Host. */
const bare: PullEvent = {
  id: sampleEvent.id,
  time: sampleEvent.time,
  digest: sampleEvent.digest,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 1234,
  upstream: 'ghcr.io',
  repository: 'acme/tool',
  cacheResult: 'miss',
  method: 'HEAD',
  clientAddress: '::1',
  requestId: 'r1-2b',
};

describe('the JSON-lines record', () => {
  it('is one line with the fixture fields, in the fixture order', async () => {
    const line = pullEventLine(sampleEvent);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(line).toBe(`${JSON.stringify(await fixture('pull-event-line.json'))}\n`);
  });

  it('leaves out what a pull by digest from an anonymous client does not have', () => {
    const record = JSON.parse(pullEventLine(bare)) as Record<string, unknown>;
    expect(Object.keys(record)).toEqual([
      'time',
      'id',
      'action',
      'upstream',
      'repository',
      'digest',
      'mediaType',
      'size',
      'cacheResult',
      'method',
      'clientAddress',
      'requestId',
    ]);
  });

  it('keeps a hostile user agent on one line and cuts it to a bounded length', () => {
    const userAgent = `evil\n{"forged":true}\r\n\u0000${'x'.repeat(20_000)}`;
    const line = pullEventLine({ ...sampleEvent, userAgent });
    expect(line.split('\n')).toHaveLength(2);
    const record = JSON.parse(line) as { userAgent: string };
    expect(record.userAgent).toBe(userAgent.slice(0, 512));
  });
});

describe('the notification envelope', () => {
  it('matches the fixture for a tagged, authenticated pull', async () => {
    expect({ events: [notificationEvent(sampleEvent, source)] }).toStrictEqual(await fixture('notification-envelope.json'));
  });

  it('uses the media type distribution names its envelopes by', () => {
    expect(notificationMediaType).toBe('application/vnd.docker.distribution.events.v2+json');
  });

  it('gives an anonymous pull by digest an empty actor, no tag, an empty useragent and no url without a base URL', () => {
    const event = notificationEvent(bare, { addr: 'tender-0:5000', instanceID: 'i' });
    expect(event).toStrictEqual({
      id: sampleEvent.id,
      timestamp: '2025-01-02T03:04:05.678Z',
      action: 'pull',
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sampleEvent.digest,
        size: 1234,
        length: 1234,
        repository: 'ghcr.io/acme/tool',
      },
      request: { id: 'r1-2b', addr: '::1', method: 'HEAD', useragent: '' },
      actor: {},
      source: { addr: 'tender-0:5000', instanceID: 'i' },
    });
  });

  it('cuts hostile request text to a bounded length', () => {
    const event = notificationEvent({ ...sampleEvent, userAgent: 'u'.repeat(100_000), host: 'h'.repeat(100_000), identity: 'i'.repeat(100_000) }, source);
    expect(event.request.useragent).toHaveLength(512);
    expect(event.request.host).toHaveLength(256);
    expect(event.actor.name).toHaveLength(256);
  });
});
