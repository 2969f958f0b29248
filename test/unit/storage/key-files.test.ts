// Signature keys re-read when their files change, including the atomic symlink swap of a Kubernetes Secret mount.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { KeyFiles } from '../../../src/storage/key-files.js';
import { generateSigningKey } from '../../helpers/cosign-keys.js';
import { trusted } from '../trust/trusted-key.js';

const root = mkdtempSync(join(tmpdir(), 'tender-key-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function logger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('info', sink), lines };
}

/** Polls until `condition` holds; the deadline is generous (a loaded CI machine), the poll interval short. */
async function eventually(condition: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(20);
  }
}

describe('KeyFiles', () => {
  it('follows a Secret mount: the ..data symlink swapped to a new directory', async () => {
    const mount = join(root, 'secret');
    mkdirSync(mount);
    const first = generateSigningKey();
    const second = generateSigningKey();
    mkdirSync(join(mount, '..v1'));
    writeFileSync(join(mount, '..v1', 'cosign.pub'), first.publicKeyPem);
    symlinkSync('..v1', join(mount, '..data'));
    symlinkSync(join('..data', 'cosign.pub'), join(mount, 'cosign.pub'));
    const { log, lines } = logger();
    const keys = new KeyFiles([{ name: 'platform', keyFiles: [join(mount, 'cosign.pub')] }], log, 50);
    keys.watch();
    try {
      const before = keys.keysOf('platform');
      expect(before.keys.map((k) => k.id)).toEqual([trusted(first).id]);

      // What kubelet's AtomicWriter does: a new timestamped directory, a temporary symlink renamed over ..data.
      mkdirSync(join(mount, '..v2'));
      writeFileSync(join(mount, '..v2', 'cosign.pub'), second.publicKeyPem);
      symlinkSync('..v2', join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
      rmSync(join(mount, '..v1'), { recursive: true });

      await eventually(() => keys.keysOf('platform').fingerprint !== before.fingerprint);
      expect(keys.keysOf('platform').keys.map((k) => k.id)).toEqual([trusted(second).id]);
      expect(lines.find((l) => l.msg === 'signature policy keys changed: verdicts made with the old keys no longer count')).toMatchObject({
        policy: 'platform',
        keys: [trusted(second).id],
      });
    } finally {
      await keys.close();
    }
  });

  it('drops a key whose file stops being one (fail closed) and takes it back when it is fixed', async () => {
    const dir = join(root, 'plain');
    mkdirSync(dir);
    const a = generateSigningKey();
    const b = generateSigningKey();
    writeFileSync(join(dir, 'a.pub'), a.publicKeyPem);
    writeFileSync(join(dir, 'b.pub'), b.publicKeyPem);
    const { log, lines } = logger();
    const keys = new KeyFiles([{ name: 'p', keyFiles: [join(dir, 'a.pub'), join(dir, 'b.pub')] }], log, 50);
    keys.watch();
    try {
      expect(keys.keysOf('p').keys).toHaveLength(2);
      writeFileSync(join(dir, 'b.pub'), 'garbage, not a key\n');
      await eventually(() => keys.keysOf('p').keys.length === 1);
      expect(lines.some((l) => l.msg === 'signature key file is not a supported public key' && l.file === join(dir, 'b.pub'))).toBe(true);
      rmSync(join(dir, 'a.pub'));
      await eventually(() => keys.keysOf('p').keys.length === 0);
      writeFileSync(join(dir, 'a.pub'), a.publicKeyPem);
      await eventually(() => keys.keysOf('p').keys.length === 1);
      expect(keys.keysOf('p').keys[0]!.id).toBe(trusted(a).id);
    } finally {
      await keys.close();
    }
  });
});
