// tender's client authentication as the real-client suites configure it (one htpasswd user, one static token),
// and the auth file format the clients share (docker config.json, containers-auth.json).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** An htpasswd user of tender. */
export const CLIENT_USER: Credentials = { username: 'alice', password: 'alice-pass-4f1e' };

/** A static token of tender ("robot account"); any user name goes with it in Basic auth. */
export const NODE_TOKEN = { name: 'nodes', token: 'node-token-6c0d9b2a51e84f37' } as const;

/** The identity tender logs for NODE_TOKEN. */
export const NODE_TOKEN_IDENTITY = `token:${NODE_TOKEN.name}`;

/** Writes an htpasswd file into dir and returns tender's `auth` settings (with the top-level key). */
export async function clientAuthSettings(dir: string): Promise<Record<string, unknown>> {
  // bcrypt, as tender requires: htpasswd -B, the README's recipe.
  const { stdout } = await run('htpasswd', ['-Bbn', CLIENT_USER.username, CLIENT_USER.password]);
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, stdout.trim() + '\n');
  return { auth: { realm: 'tender-test', htpasswd, tokens: [{ name: NODE_TOKEN.name, token: NODE_TOKEN.token }] } };
}

/** `{"auths": {<key>: {"auth": base64(user:password)}}}`: docker's config.json and containers-auth.json alike. */
export function authFileJson(entries: Record<string, Credentials>): string {
  const auths = Object.fromEntries(Object.entries(entries).map(([key, c]) => [key, { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') }]));
  return JSON.stringify({ auths }, null, 2) + '\n';
}
