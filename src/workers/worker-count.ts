// `workers: auto` as a number: the cores this process may use, bounded by a cgroup CPU quota (a container's
// CPU limit), since os.availableParallelism() on Node 20 sees the host's cores, not the container's share.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** More workers than this buys nothing but memory on any host tender runs on. */
export const maxWorkers = 64;

export function workerCount(setting: number | 'auto', cgroupCpuMax = '/sys/fs/cgroup/cpu.max'): number {
  if (setting !== 'auto') return setting;
  const cores = availableParallelism();
  const quota = cpuQuota(cgroupCpuMax);
  return Math.max(1, Math.min(maxWorkers, cores, quota === undefined ? cores : Math.ceil(quota)));
}

/** cgroup v2 `cpu.max`: "<quota> <period>" in µs, or "max <period>" without a limit; undefined when absent or unlimited. */
export function cpuQuota(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const [quota, period] = text.trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period);
  if (quota === 'max' || !Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}
