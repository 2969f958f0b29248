// A keyv store adapter that keeps one file per key, written by rename, so tags survive restarts and crashes.
//
// Hand-written rather than keyv-file: that package rewrites one file for the whole store in place, so a
// crash mid-write loses every tag, and it reports I/O errors to the console instead of to the caller.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class FsKeyvStore extends EventEmitter {
  readonly opts: { dialect: string; dir: string };
  namespace?: string | undefined;

  constructor(private readonly dir: string) {
    super();
    this.opts = { dialect: 'fs', dir };
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    try {
      return (await readFile(this.pathOf(key), 'utf8')) as Value;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async set(key: string, value: unknown): Promise<boolean> {
    const path = this.pathOf(key);
    await mkdir(join(path, '..'), { recursive: true });
    const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, typeof value === 'string' ? value : JSON.stringify(value));
    await rename(temp, path);
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
