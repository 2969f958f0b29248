// One cold-herd client in its own process (bench/scenarios.ts coldHerd): a node that pulls in a cluster is its own
// process, and 20 clients in the driver's one event loop recorded first bytes up to 180 ms after tender sent them
// (the loop was hashing the streams that came first; bench/PROFILE.md "Cold herd").
//
//   node bench/herd-client.mjs <url> <sha256:…> <size> <timeoutMs>
// Prints "ready" once loaded, starts on a "go" line on stdin, then prints one JSON line: the wall-clock times
// (epoch ms, performance.timeOrigin-based) of the response head and of the first body byte, and the check of the
// body's length and sha256, which it hashes as it arrives. Plain node:http: nothing to load but node itself.
import { createHash } from 'node:crypto';
import { get } from 'node:http';

const [url, digest, size, timeoutMs] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
const result = { headersAt: null, firstByteAt: null, error: undefined };
const done = () => {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
};

process.stdin.setEncoding('utf8');
process.stdin.once('data', () => {
  const req = get(url, { signal: AbortSignal.timeout(Number(timeoutMs)) }, (res) => {
    result.headersAt = now();
    const hash = createHash('sha256');
    let bytes = 0;
    res.on('data', (chunk) => {
      if (bytes === 0) result.firstByteAt = now();
      hash.update(chunk);
      bytes += chunk.length;
    });
    res.on('end', () => {
      const got = `sha256:${hash.digest('hex')}`;
      if (res.statusCode !== 200) result.error = `HTTP ${res.statusCode}`;
      else if (bytes !== Number(size)) result.error = `got ${bytes} bytes, expected ${size}`;
      else if (got !== digest) result.error = `digest mismatch (${got.slice(0, 19)}…)`;
      done();
    });
    res.on('error', (err) => {
      result.error = `${err.name}: ${err.message}`;
      done();
    });
  });
  req.on('error', (err) => {
    result.error = `${err.name}: ${err.message}`;
    done();
  });
});
process.stdout.write('ready\n');
