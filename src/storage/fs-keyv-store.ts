// A keyv store adapter that keeps one file per key, written by rename, so tags survive restarts and crashes.
//
// Hand-written rather than keyv-file: that package rewrites one file for the whole store in place, so a
// crash mid-write loses every tag, and it reports I/O errors to the console instead of to the caller.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export class FsKeyvStore extends EventEmitter {
  readonly opts: { dialect: string; dir: string };
  namespace?: string | undefined;

  constructor(private readonly dir: string) {
    super();
    this.opts = { dialect: 'fs', dir };
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(key), 'utf8');
    } catch (err) {
      // ENOTDIR: a path component is not a directory (meta/ replaced by a file): nothing is stored there.
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    const value = valueOf(text);
    if (text.slice(0, text.indexOf('\n')) !== key || !isJson(value)) {
      // A file cut short by a power loss, or a hash collision: absent, and out of the way.
      await rm(this.pathOf(key), { force: true });
      return undefined;
    }
    return value as Value;
  }

  /** Every stored entry whose key starts with `prefix` (file names are hashes, so each file keeps its key). */
  async *entries(prefix: string): AsyncGenerator<[string, string]> {
    for (const shard of await readdir(this.dir).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.dir, shard)).catch(() => [] as string[])) {
        if (name.endsWith('.tmp')) continue;
        const text = await readFile(join(this.dir, shard, name), 'utf8').catch(() => undefined);
        const newline = text?.indexOf('\n') ?? -1;
        if (text === undefined || newline < 0) continue;
        const key = text.slice(0, newline);
        if (key.startsWith(prefix)) yield [key, text.slice(newline + 1)];
      }
    }
  }

  async set(key: string, value: unknown): Promise<boolean> {
    const path = this.pathOf(key);
    await mkdir(join(path, '..'), { recursive: true });
    const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    // The key goes first, on its own line (keys hold no newline: they are built from validated names).
    const handle = await open(temp, 'w');
    try {
      try {
        await handle.writeFile(`${key}\n${typeof value === 'string' ? value : JSON.stringify(value)}`);
        // Synced before the rename: after a power loss the entry is either the old one or the new one.
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (err) {
      // A full disk must not also fill meta/ with half-written temp files.
      await rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
    return true;
  }

  async delete(key: string): Promise<boolean> {
    await rm(this.pathOf(key), { force: true });
    return true;
  }

  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Keys are hashed: they carry repository names and tags, which are not safe file names. */
  private pathOf(key: string): string {
    const hex = createHash('sha256').update(key).digest('hex');
    return join(this.dir, hex.slice(0, 2), hex);
  }
}

function valueOf(text: string): string {
  return text.slice(text.indexOf('\n') + 1);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
