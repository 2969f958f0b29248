// The replica id a command that runs beside a serving tender (seed, export, import, check) works under.
//
// A core clears the temp files of its replica id at start (a crash's leftovers), and temp files carry that id
// (storage/fs-blob-store.ts). A command run on a serving tender's volume with the same configuration (`kubectl
// exec` into its Pod: the same host name, so the same default replicaId) would otherwise delete that tender's
// downloads in progress. `<replicaId>-<command>` is a namespace of its own: the serving tender's clearing
// (`<replicaId>.`) never matches it, and the command clears only what an earlier run of the same command left.

/** `<replicaId>-<command>`, the replica id cut so the whole stays within replicaId's 63 characters. */
export function commandReplicaId(replicaId: string, command: string): string {
  return `${replicaId.slice(0, 63 - command.length - 1)}-${command}`;
}
