// tender's per-request log lines, as the real-client suites read them to see what a client actually asked.
import type { TenderHandle } from './tender.js';

export interface RequestLine {
  method: string;
  path: string;
  status: number;
  upstream?: string;
  repository?: string;
  /** The authenticated client identity: a user name, or `token:<name>`. */
  identity?: string;
  result?: string;
  error?: string;
  bytes?: number;
}

/** tender writes a request line when the response closes, which can trail the client's exit: wait until quiet. */
export async function requestLinesSince(tender: TenderHandle, mark: number): Promise<RequestLine[]> {
  let seen = -1;
  for (let i = 0; i < 40 && seen !== tender.logs.length; i++) {
    seen = tender.logs.length;
    await new Promise((r) => setTimeout(r, 50));
  }
  return tender.logs.slice(mark).filter((l) => l.msg === 'request') as unknown as RequestLine[];
}

/** One line per request, for failure messages and the closing-note figures. */
export function describeLines(lines: RequestLine[]): string {
  return lines.map((l) => `  ${l.method} ${l.path} ${l.status} ${l.result ?? '-'} ${l.identity ?? '-'}${l.error ? ` (${l.error})` : ''}`).join('\n');
}
