// Each worker's own audit file (one writer per file), named by the slot its replacement keeps.
import { describe, expect, it } from 'vitest';
import { auditSettingsOf, workerAuditPath } from '../../../src/audit/audit-file-path.js';
import { workerSlot } from '../../../src/workers/worker-slot.js';

describe('audit file per worker', () => {
  it('names the file for the slot beside the configured one, keeping its extension; a device stays shared', () => {
    expect(workerAuditPath('/var/log/tender/pulls.jsonl', 2)).toBe('/var/log/tender/pulls.w2.jsonl');
    expect(workerAuditPath('/var/log/tender/pulls', 1)).toBe('/var/log/tender/pulls.w1');
    expect(workerAuditPath('/var/log/tender.d/audit.log.jsonl', 3)).toBe('/var/log/tender.d/audit.log.w3.jsonl');
    expect(workerAuditPath('/dev/stdout', 1)).toBe('/dev/stdout');
  });

  it('changes the settings only in a worker with a file sink', () => {
    const settings = { file: { path: '/a/pulls.jsonl', maxSize: 10, maxFiles: 1, queueSize: 5 }, notifications: undefined };
    expect(auditSettingsOf(settings, undefined)).toBe(settings);
    expect(auditSettingsOf(settings, 4).file?.path).toBe('/a/pulls.w4.jsonl');
    expect(auditSettingsOf({ file: undefined, notifications: undefined }, 4)).toEqual({ file: undefined, notifications: undefined });
  });

  it('reads the slot the primary passed, and nothing else', () => {
    expect(workerSlot({ TENDER_WORKER_SLOT: '2' })).toBe(2);
    expect(workerSlot({})).toBeUndefined();
    for (const bad of ['0', '-1', '1.5', 'x', '', '99999']) expect(workerSlot({ TENDER_WORKER_SLOT: bad })).toBeUndefined();
  });
});
