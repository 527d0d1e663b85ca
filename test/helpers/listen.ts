import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Starts `server` on a free loopback port and queues its closing on
 * `cleanups` (the test file's afterEach list); returns the port.
 *
 * @example
 * const port = await listenOnLoopback(createServer(handler), cleanups);
 * await fetch(`http://127.0.0.1:${port}/`);
 */
export async function listenOnLoopback(
  server: Server,
  cleanups: Array<() => Promise<unknown> | unknown>,
): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise((r) => {
        server.close(r);
        // Keep-alive sockets of aborted requests would hold close() for seconds.
        server.closeAllConnections();
      }),
  );
  return (server.address() as AddressInfo).port;
}
