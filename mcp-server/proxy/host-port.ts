import { ConfigError } from '../../shared/errors.js';

/**
 * Splits `HOST:PORT`, `[::1]:PORT` or a bare `PORT` (loopback); undefined
 * when it is none of these or the port is out of range.
 *
 * @example
 * splitHostPort('8931') // { host: '127.0.0.1', port: 8931 }
 * splitHostPort('[::1]:0') // { host: '::1', port: 0 }
 */
export function splitHostPort(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]+):)?(\d+)$/.exec(value.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/**
 * {@link splitHostPort}, or a ConfigError naming the flag and an example.
 *
 * @example
 * parseHostPort(opts.listen, '--listen')
 */
export function parseHostPort(value: string, field = '--http'): { host: string; port: number } {
  const parsed = splitHostPort(value);
  if (parsed) return parsed;
  throw new ConfigError({
    file: field,
    problem: `expected HOST:PORT, got '${value}'`,
    fix: `for example ${field} 127.0.0.1:8931 (port 0 picks a free one)`,
  });
}
