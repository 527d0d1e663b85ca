import { ConfigError } from '../../../shared/errors.js';

// What hitloop checks of a remote server's URL and headers, from a config
// file or the command line (`--upstream-url`, `--header`, HITLOOP_HEADER_<n>).

/**
 * Parses a `--header` value, `Name: value`.
 *
 * @example
 * parseHeaderFlag('Authorization: Bearer abc') // ['Authorization', 'Bearer abc']
 */
export function parseHeaderFlag(text: string, source = '--header'): [string, string] {
  const colon = text.indexOf(':');
  const name = colon === -1 ? '' : text.slice(0, colon).trim();
  if (colon === -1 || !HEADER_NAME.test(name)) {
    throw new ConfigError({
      file: source,
      problem: `expected "Name: value", got ${JSON.stringify(text)}`,
      fix: 'for example --header "Authorization: Bearer $TOKEN"',
    });
  }
  const value = text.slice(colon + 1).trim();
  checkHeaderValue(value, source, undefined);
  return [name, value];
}

// RFC 9110 token characters.
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A header value must be one line. */
export function checkHeaderValue(value: string, file: string, field: string | undefined): void {
  if (/[\r\n\0]/.test(value)) {
    throw new ConfigError({
      file,
      field,
      problem: 'a header value contains a line break or NUL character',
      fix: 'remove it: header values are a single line',
    });
  }
}

/** A remote server's URL must be http(s). */
export function checkUrl(url: string, file: string, field: string | undefined): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ConfigError({
      file,
      field,
      problem: `${JSON.stringify(url)} is not an http(s) URL`,
      fix: 'give the full MCP endpoint, e.g. "https://example.com/mcp" or "http://127.0.0.1:3000/mcp"',
    });
  }
}

/** `--header` flags and HITLOOP_HEADER_<n> variables as one header map; later ones win. */
export function headersFromCommandLine(
  flags: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const fromEnv = Object.keys(env)
    .map((key) => ({ key, n: /^HITLOOP_HEADER_(\d+)$/.exec(key)?.[1] }))
    .filter((e): e is { key: string; n: string } => e.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n))
    .map((e) => parseHeaderFlag(env[e.key] ?? '', e.key));
  const headers: Record<string, string> = {};
  for (const [name, value] of [...fromEnv, ...flags.map((f) => parseHeaderFlag(f))]) {
    // A later header replaces an earlier one of the same name, whatever its case.
    for (const existing of Object.keys(headers))
      if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
    headers[name] = value;
  }
  return headers;
}
