// Which file a process writes the pull audit to when several processes serve (workers: n > 1).
//
// One writer per file, so that rotation is safe: a rotation is a rename of the live file followed by a fresh
// open, and a second process appending to the same path would keep writing into the renamed file (its open
// descriptor follows the inode) or rotate it again at the same moment, losing or duplicating lines. Each worker
// therefore writes its own file, named by its slot (`pulls.jsonl` → `pulls.w1.jsonl`, `pulls.w2.jsonl`), which
// its replacement takes over when it dies. Chosen over sending every event to the primary: a pull event would
// then cost an IPC message on the request path and the primary (which serves no request and holds the leases)
// would become the writer of every worker's events; per-worker files cost nothing on the hot path and a reader
// globs `pulls.w*.jsonl*` (every line carries its time and id). A device or a pipe (`/dev/stdout`) is kept as
// it is: it is never rotated, and the sink writes it in pieces a pipe takes whole (jsonl-file-sink.ts).
import { basename, dirname, extname, join } from 'node:path';
import type { AuditSettings } from './audit-sinks.js';

/** The audit file of worker `slot`: `<name>.w<slot><ext>` beside the configured one; `/dev/…` unchanged. */
export function workerAuditPath(path: string, slot: number): string {
  if (path.startsWith('/dev/')) return path;
  const ext = extname(path);
  return join(dirname(path), `${basename(path, ext)}.w${slot}${ext}`);
}

/** The settings with the file named for this worker, when this process is one (`slot`). */
export function auditSettingsOf(settings: AuditSettings, slot: number | undefined): AuditSettings {
  if (slot === undefined || !settings.file) return settings;
  return { ...settings, file: { ...settings.file, path: workerAuditPath(settings.file.path, slot) } };
}
