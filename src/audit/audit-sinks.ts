// The pull audit's sinks as the settings configure them (a file, a notification listener, or both) behind one fan-out.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { AuditSink } from './audit-sink.js';
import { FanOutSink } from './fan-out-sink.js';
import { JsonlFileSink, type JsonlFileSettings } from './jsonl-file-sink.js';
import { NotificationSink, type NotificationSettings } from './notification-sink.js';

/** The `audit` section's values (config.audit): each part turns its sink on. */
export interface AuditSettings {
  readonly file: (JsonlFileSettings & { readonly queueSize: number }) | undefined;
  readonly notifications: (Omit<NotificationSettings, 'source'> & { readonly baseUrl: string | undefined }) | undefined;
}

/** The sinks, their counters at 0 and their queues watched by the depth gauge; undefined when none is configured. */
export function auditSinks(settings: AuditSettings, port: number, log: Logger, metrics: Metrics): AuditSink | undefined {
  const counters = { delivered: metrics.audit.delivered, dropped: metrics.audit.dropped, failedAttempts: metrics.audit.failedAttempts };
  const sinks: Array<{ sink: 'file' | 'http'; adapter: AuditSink }> = [];
  const { file, notifications } = settings;
  if (file) sinks.push({ sink: 'file', adapter: new JsonlFileSink(file, { counters, log: log.child({ audit: 'file' }) }) });
  if (notifications) {
    const { baseUrl, ...rest } = notifications;
    // Who sends, as distribution names it: this host and port, and an id that changes with every start.
    const source = { addr: `${hostname()}:${port}`, instanceID: randomUUID(), ...(baseUrl ? { baseUrl } : {}) };
    sinks.push({ sink: 'http', adapter: new NotificationSink({ ...rest, source }, { counters, log: log.child({ audit: 'http' }) }) });
  }
  if (sinks.length === 0) return undefined;
  metrics.audit.initialize(sinks.map(({ sink, adapter }) => ({ sink, pending: () => adapter.pending })));
  if (sinks.length === 1) return sinks[0]!.adapter;
  return new FanOutSink(
    sinks.map((s) => s.adapter),
    log,
  );
}
