// describeError: what a log line or an error message says about whatever was thrown, each part once.
import { describe, expect, it } from 'vitest';
import { OciError, describeError } from '../../../src/oci/errors.js';

function connectError(address: string): Error {
  return Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
}

describe('describeError', () => {
  it('says a refused connection once, wrapped or not (issue 16: the stale warning said it three times)', () => {
    const refused = connectError('127.0.0.1:1');
    expect(describeError(refused)).toBe('connect ECONNREFUSED 127.0.0.1:1');
    const wrapped = new OciError('UNAVAILABLE', `upstream r unreachable: ${describeError(refused)}`, { cause: refused });
    expect(describeError(wrapped)).toBe('UNAVAILABLE upstream r unreachable: connect ECONNREFUSED 127.0.0.1:1');
  });

  it('keeps a code and a cause the message does not mention', () => {
    const cause = new Error('socket hang up');
    expect(describeError(Object.assign(new Error('request failed', { cause }), { code: 'UND_ERR_SOCKET' }))).toBe(
      'UND_ERR_SOCKET request failed: socket hang up',
    );
  });

  it("names each address of Node's AggregateError, which has no message of its own", () => {
    const aggregate = Object.assign(new AggregateError([connectError('::1:5000'), connectError('127.0.0.1:5000')], ''), { code: 'ECONNREFUSED' });
    expect(describeError(aggregate)).toBe('connect ECONNREFUSED ::1:5000; connect ECONNREFUSED 127.0.0.1:5000');
  });

  it('describes what is not an Error', () => {
    expect(describeError('plain')).toBe('plain');
  });
});
