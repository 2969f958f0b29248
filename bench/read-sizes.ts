// `npm run bench:read-sizes`: how a large cached blob is best copied to the socket (issue 17 item 3). One warm
// 256 MiB file, served over loopback to curl by tender's own sendFile (pooled buffers of 64 KiB, 256 KiB,
// 512 KiB (today's) and 1 MiB, one read in flight while the last chunk is written) and by fs.createReadStream
// piped to the response (highWaterMark 64 KiB, 1 MiB), in paired rounds (ABBA…), reporting MB/s and the
// server's CPU per GiB (median per variant). The server runs in this process; curl is the client.
//
//   npm run bench:read-sizes -- --mib 256 --rounds 6
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BufferPool, sendFile } from '../src/http/send-file.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, rounds: { type: 'string', default: '6' } } });
const size = Number(values.mib) * 1024 * 1024;
const rounds = Number(values.rounds);

type Variant = { label: string; serve: (res: ServerResponse, path: string) => Promise<void> | void };

function pooled(bytes: number): Variant {
  const pool = new BufferPool(bytes);
  return {
    label: `sendFile, pooled ${bytes / 1024} KiB reads`,
    serve: async (res, path) => {
      const handle = await open(path, 'r');
      const access = {
        read: async (buffer: Buffer, position: number) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
        close: () => handle.close().catch(() => undefined),
      };
      await sendFile(res, 200, { 'content-length': String(size) }, { access, done: () => undefined }, 0, size - 1, pool);
    },
  };
}

function streamed(highWaterMark: number): Variant {
  return {
    label: `createReadStream, highWaterMark ${highWaterMark / 1024} KiB`,
    serve: (res, path) => {
      res.writeHead(200, { 'content-length': String(size) });
      createReadStream(path, { highWaterMark }).pipe(res);
    },
  };
}

const variants: Variant[] = [pooled(64 * 1024), pooled(256 * 1024), pooled(512 * 1024), pooled(1024 * 1024), streamed(64 * 1024), streamed(1024 * 1024)];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function curl(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-s', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', url], (err, stdout) => {
      if (err) return reject(err);
      const [speed, got] = stdout.trim().split(' ').map(Number) as [number, number];
      if (got !== size) return reject(new Error(`curl got ${got} bytes of ${size}`));
      resolve(speed);
    });
  });
}

const dir = await mkdtemp(join(tmpdir(), 'tender-read-sizes-'));
try {
  const path = join(dir, 'blob');
  const chunk = randomBytes(1024 * 1024);
  await writeFile(path, Buffer.concat(Array.from({ length: size / chunk.length }, () => chunk)));
  const server = createServer((req, res) => void variants[Number(req.url!.slice(1))]!.serve(res, path));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Warm the page cache and the code paths once.
  for (let i = 0; i < variants.length; i++) await curl(`${url}/${i}`);
  const speeds = variants.map((): number[] => []);
  const cpu = variants.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const before = process.cpuUsage();
      speeds[i]!.push((await curl(`${url}/${i}`)) / 1e6);
      const used = process.cpuUsage(before);
      cpu[i]!.push((used.user + used.system) / 1000 / (size / 2 ** 30));
    }
    console.log(`round ${round + 1}/${rounds} done`);
  }
  server.close();
  console.log(`\n| variant (${values.mib} MiB, ${rounds} rounds, median) | MB/s | server CPU ms per GiB |\n| --- | ---: | ---: |`);
  variants.forEach((v, i) => console.log(`| ${v.label} | ${median(speeds[i]!).toFixed(0)} | ${median(cpu[i]!).toFixed(0)} |`));
} finally {
  await rm(dir, { recursive: true, force: true });
}
