// Peak resident memory (VmHWM) of a process, or of a process and its children (nginx master + workers).
import { readFile, writeFile } from 'node:fs/promises';

async function statusField(pid: number, field: string): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/** Current resident memory (VmRSS) of a process, plus its children when asked, in bytes. */
export async function rssNow(pid: number, includeChildren: boolean): Promise<number> {
  let bytes = 0;
  for (const p of [pid, ...(includeChildren ? await childPids(pid) : [])]) bytes += (await statusField(p, 'VmRSS')) ?? 0;
  return bytes;
}

/**
 * Samples VmHWM (the kernel's own high-water mark) of each watched root, and of its children when asked, keeping
 * the largest value seen per pid: children that exit before the end (nginx's cache loader) still count.
 */
export class PeakRss {
  private readonly peaks = new Map<string, Map<number, number>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly roots: ReadonlyArray<{ id: string; pid: number; includeChildren: boolean }>) {
    for (const r of roots) this.peaks.set(r.id, new Map());
  }

  start(intervalMs = 1_000): void {
    this.timer = setInterval(() => void this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sample(): Promise<void> {
    for (const root of this.roots) {
      const pids = [root.pid, ...(root.includeChildren ? await childPids(root.pid) : [])];
      const peaks = this.peaks.get(root.id)!;
      for (const pid of pids) {
        const hwm = await statusField(pid, 'VmHWM');
        if (hwm !== undefined) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, hwm));
      }
    }
  }

  /** Sum of per-process peaks in bytes, and how many processes contributed. */
  peak(id: string): { bytes: number; processes: number } {
    const peaks = this.peaks.get(id) ?? new Map<number, number>();
    let bytes = 0;
    for (const v of peaks.values()) bytes += v;
    return { bytes, processes: peaks.size };
  }
}

/**
 * The kernel's peak resident memory (VmHWM) of one process so far, in bytes, with its children's (a tender with
 * workers) when asked; undefined once it has exited.
 */
export async function hwmNow(pid: number, includeChildren = false): Promise<number | undefined> {
  const own = await statusField(pid, 'VmHWM');
  if (own === undefined || !includeChildren) return own;
  let bytes = own;
  for (const child of await childPids(pid)) bytes += (await statusField(child, 'VmHWM')) ?? 0;
  return bytes;
}

/**
 * Resets a process's VmHWM to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0, same user), so the
 * next reading covers only what follows. Returns false where the kernel or permissions do not allow it.
 */
export async function resetHwm(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
