// How much CPU went to processes outside the bench's own tree: the machine may be shared, and 2 cores are few.
import { readFile } from 'node:fs/promises';

/** USER_HZ: 100 on every Linux architecture node runs on (`getconf CLK_TCK`). */
const clockTicks = 100;

export interface CpuSnapshot {
  at: number;
  /** user+nice+system+steal jiffies of the whole machine (irq/softirq left out: they are not any process's). */
  busy: number;
  /** utime+stime+cutime+cstime of this process and its descendants, alive now. */
  own: number;
}

async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    const tasks = await readFile(`/proc/${p}/task/${p}/children`, 'utf8').catch(() => '');
    for (const c of tasks.split(/\s+/).filter(Boolean)) stack.push(Number(c));
  }
  return out;
}

async function processJiffies(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after "(comm)": state is field 3; utime..cstime are fields 14..17.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const f = (n: number): number => Number(rest[n - 3] ?? 0);
  return f(14) + f(15) + f(16) + f(17);
}

export async function cpuSnapshot(): Promise<CpuSnapshot> {
  const stat = await readFile('/proc/stat', 'utf8');
  const [, user = 0, nice = 0, system = 0, , , , , steal = 0] = (stat.split('\n')[0] ?? '').trim().split(/\s+/).map(Number);
  let own = 0;
  for (const pid of await descendants(process.pid)) own += await processJiffies(pid);
  return { at: performance.now(), busy: user + nice + system + steal, own };
}

/** CPU used by everything else between two snapshots, in cores (1.0 = one core fully busy). */
export function foreignCores(a: CpuSnapshot, b: CpuSnapshot): number {
  const seconds = (b.at - a.at) / 1000;
  if (seconds <= 0) return 0;
  return Math.max(0, (b.busy - a.busy - (b.own - a.own)) / clockTicks / seconds);
}

/**
 * CPU time that a server process and its live descendants (nginx workers, tender workers) have used so far, in
 * seconds, user and system apart. Unlike req/s, CPU per request hardly moves when other processes share the cores.
 */
export async function serverCpuTimes(pid: number): Promise<{ user: number; system: number }> {
  let user = 0;
  let system = 0;
  for (const p of await descendants(pid)) {
    const text = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    user += Number(rest[14 - 3] ?? 0);
    system += Number(rest[15 - 3] ?? 0);
  }
  return { user: user / clockTicks, system: system / clockTicks };
}

/** serverCpuTimes, user + system. */
export async function serverCpuSeconds(pid: number): Promise<number> {
  const t = await serverCpuTimes(pid);
  return t.user + t.system;
}
