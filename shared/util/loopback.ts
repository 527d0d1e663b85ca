/**
 * True for hosts that never leave this machine: `localhost` (and
 * `*.localhost`), `127.x.x.x`, and `::1` bare (a bind address) or bracketed
 * (a URL's hostname). Plain http to them cannot be overheard, and servers
 * bound to them are not reachable from the network.
 *
 * @example
 * isLoopbackHost('127.0.0.1') // true
 * isLoopbackHost('[::1]') // true
 * isLoopbackHost('hub.example') // false
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '::1' ||
    host === '[::1]' ||
    /^127(?:\.\d{1,3}){3}$/.test(host)
  );
}
