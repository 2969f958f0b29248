// PasswordVerifier: bcrypt on worker threads, a bounded queue that answers 'busy', and clean checks ahead of suspect ones.
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { PasswordVerifier } from '../../../src/http/password-verifier.js';

// Cost 8: fast enough for a unit test, slow enough that queued checks really wait.
const hash = bcrypt.hashSync('right', 8);
const verifiers: PasswordVerifier[] = [];
afterAll(async () => Promise.all(verifiers.map((v) => v.close())));

function verifier(queue: number): PasswordVerifier {
  const v = new PasswordVerifier({ queue, threads: 1 });
  verifiers.push(v);
  return v;
}

describe('PasswordVerifier', () => {
  it('tells a right password from a wrong one, on a worker thread', async () => {
    const v = verifier(10);
    expect(await v.verify('right', hash, { suspect: false })).toBe('match');
    expect(await v.verify('wrong', hash, { suspect: false })).toBe('mismatch');
  });

  it("answers 'busy' at once beyond the queue bound, without running the check", async () => {
    const v = verifier(2);
    const running = v.verify('wrong', hash, { suspect: true });
    const queued = [v.verify('wrong', hash, { suspect: true }), v.verify('wrong', hash, { suspect: true })];
    expect(v.queued).toBe(2);
    expect(await v.verify('right', hash, { suspect: false })).toBe('busy');
    expect(await Promise.all([running, ...queued])).toEqual(['mismatch', 'mismatch', 'mismatch']);
  });

  it('runs a clean check before suspect checks queued earlier', async () => {
    const v = verifier(10);
    const finished: string[] = [];
    const track = (name: string, p: Promise<unknown>) => p.then(() => finished.push(name));
    const first = track('suspect-0', v.verify('wrong', hash, { suspect: true }));
    const suspects = [1, 2, 3].map((i) => track(`suspect-${i}`, v.verify('wrong', hash, { suspect: true })));
    const clean = track('clean', v.verify('right', hash, { suspect: false }));
    await Promise.all([first, ...suspects, clean]);
    // The one already running finishes first; the clean one overtakes every queued suspect.
    expect(finished.slice(0, 2)).toEqual(['suspect-0', 'clean']);
  });

  it("drops a queued check whose client left, answering 'busy'", async () => {
    const v = verifier(10);
    const running = v.verify('wrong', hash, { suspect: false });
    const left = new AbortController();
    const queued = v.verify('right', hash, { suspect: false, signal: left.signal });
    left.abort();
    expect(await queued).toBe('busy');
    expect(v.queued).toBe(0);
    await running;
  });
});
