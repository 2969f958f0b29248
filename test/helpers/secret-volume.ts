// A Kubernetes Secret volume as the kubelet writes it: the files in a timestamped directory, a `..data`
// symlink to it swapped atomically (symlink to a temp name, rename over), and each key a symlink through `..data`.
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Projects `files` (key → content) into `mount` as version `version`; the previous version stays on disk. */
export async function projectSecret(mount: string, version: string, files: Record<string, string | Buffer>): Promise<void> {
  const payload = `..${version}`;
  await mkdir(join(mount, payload), { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(mount, payload, name), content);
  await symlink(payload, join(mount, '..data_tmp'));
  await rename(join(mount, '..data_tmp'), join(mount, '..data'));
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(mount, name)).catch(() => undefined);
}
