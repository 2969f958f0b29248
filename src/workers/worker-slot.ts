// A worker's slot: its place (1…workers) among the host's workers, kept by the worker that replaces it.
//
// The cluster's worker id grows with every fork, so a name built from it (a file per worker) would multiply with
// every crash; the slot does not. The primary passes it in the environment of the fork.

export const workerSlotVariable = 'TENDER_WORKER_SLOT';

/** The slot the primary gave this worker, or undefined outside a worker (or when the variable is not a slot). */
export function workerSlot(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const value = env[workerSlotVariable];
  if (value === undefined || !/^[1-9][0-9]{0,3}$/.test(value)) return undefined;
  return Number(value);
}
