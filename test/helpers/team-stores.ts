import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';

// The team stores' tests need the real PostgreSQL and Redis the machine (and
// CI) runs; on a laptop without them those tests skip with one line saying why.

export const POSTGRES_URL =
  process.env.HITLOOP_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.HITLOOP_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether something accepts TCP connections at the URL's host and port. */
export function reachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432));
  return new Promise((resolve) => {
    const socket = createConnection({ host: u.hostname, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Prints why a suite skips, once, and returns whether it can run. */
export async function requireService(name: string, url: string): Promise<boolean> {
  const ok = await reachable(url);
  if (!ok)
    process.stderr.write(
      `skipping ${name} tests: nothing listens at ${new URL(url).host} (start ${name}, or set HITLOOP_TEST_${name.toUpperCase()}_URL)\n`,
    );
  return ok;
}

/** A store URL isolated to one test run (its own schema or key prefix). */
export function isolatedStoreUrl(base: string): string {
  const tag = `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const u = new URL(base);
  if (u.protocol.startsWith('redis')) u.searchParams.set('prefix', `hitloop-test:${tag}:`);
  else u.searchParams.set('schema', `hitloop_${tag}`);
  return u.toString();
}
