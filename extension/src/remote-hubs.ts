// The `hitloop.remoteHubs` setting: central hubs (`hitloop serve`, team mode)
// the extension connects to besides the ones it discovers on this machine.
// No `vscode` import: parsed and tested as plain data. Tokens never live in
// settings (they sync and get shared); they are kept in VS Code's
// SecretStorage, keyed by the normalised URL (see remote-hub-commands.ts).

import { isLoopbackHost } from '../../shared/util/loopback.js';

export { isLoopbackHost };

/** One remote hub, as the extension connects to it. */
export interface RemoteHubEntry {
  /** Normalised: scheme, host, port and base path, no trailing slash. */
  url: string;
  /** Shown in the sidebar; the host when the setting names none. */
  name: string;
  /** Plain http to a non-loopback host, which the user allowed explicitly. */
  insecure: boolean;
}

/** The SecretStorage key of a remote hub's token. */
export function tokenKey(url: string): string {
  return `hitloop.remoteHub.token:${url}`;
}

/**
 * Checks and normalises a hub URL: http(s) only, no user name or password in
 * it (the token goes in a header), no query or fragment, trailing slashes
 * dropped. Plain http is refused for other machines, where the bearer token
 * would cross the network in clear, unless `allowInsecure`.
 *
 * @example
 * normalizeHubUrl('https://Hub.Example:8700/') // { ok: true, url: 'https://hub.example:8700', insecure: false }
 * normalizeHubUrl('http://hub.example').ok // false
 */
export function normalizeHubUrl(
  text: string,
  allowInsecure = false,
): { ok: true; url: string; insecure: boolean } | { ok: false; message: string } {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return { ok: false, message: `'${text}' is not a URL (e.g. https://hub.example:8700)` };
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    return {
      ok: false,
      message: `${u.protocol} is not supported: use https:// (or http:// on this machine)`,
    };
  if (u.username || u.password)
    return {
      ok: false,
      message:
        'put no user name or password in the URL; the token is asked for separately and kept in VS Code’s secret storage',
    };
  if (u.search || u.hash)
    return { ok: false, message: 'the URL must not have a query (?…) or a fragment (#…)' };
  const insecure = u.protocol === 'http:' && !isLoopbackHost(u.hostname);
  if (insecure && !allowInsecure)
    return {
      ok: false,
      message: `${u.origin} uses plain http to another machine, which would send the token in clear; use https, or set "allowInsecure": true for this entry on a network you trust`,
    };
  const path = u.pathname.replace(/\/+$/, '');
  return { ok: true, url: `${u.protocol}//${u.host}${path}`, insecure };
}

/**
 * Reads the `hitloop.remoteHubs` setting. An entry is `{ "url", "name"?,
 * "allowInsecure"? }` or a bare URL string. Invalid entries are skipped with a
 * warning (a bad entry must not take the other hubs down); a URL listed twice
 * is used once.
 *
 * @example
 * parseRemoteHubs([{ url: 'https://hub.example:8700/', name: 'team' }], console.warn)
 * // [{ url: 'https://hub.example:8700', name: 'team', insecure: false }]
 */
export function parseRemoteHubs(
  raw: unknown,
  warn: (message: string) => void = () => undefined,
): RemoteHubEntry[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    warn('hitloop.remoteHubs must be a list of { "url": "https://…", "name": "…" }; ignored');
    return [];
  }
  const out: RemoteHubEntry[] = [];
  const seen = new Set<string>();
  raw.forEach((item: unknown, index) => {
    const where = `hitloop.remoteHubs[${index}]`;
    const entry =
      typeof item === 'string'
        ? { url: item }
        : item !== null && typeof item === 'object' && !Array.isArray(item)
          ? (item as Record<string, unknown>)
          : undefined;
    if (!entry || typeof entry.url !== 'string' || entry.url.trim() === '') {
      warn(`${where} has no "url"; ignored`);
      return;
    }
    if (entry.name !== undefined && typeof entry.name !== 'string') {
      warn(`${where}: "name" must be a string; ignored`);
      return;
    }
    if (entry.allowInsecure !== undefined && typeof entry.allowInsecure !== 'boolean') {
      warn(`${where}: "allowInsecure" must be true or false; ignored`);
      return;
    }
    const checked = normalizeHubUrl(entry.url, entry.allowInsecure === true);
    if (!checked.ok) {
      warn(`${where}: ${checked.message}; ignored`);
      return;
    }
    if (seen.has(checked.url)) {
      warn(`${where}: ${checked.url} is listed twice; the first entry is used`);
      return;
    }
    seen.add(checked.url);
    const name = typeof entry.name === 'string' && entry.name.trim() ? entry.name.trim() : '';
    out.push({
      url: checked.url,
      name: name || new URL(checked.url).host,
      insecure: checked.insecure,
    });
  });
  return out;
}

/**
 * The setting's new value with `url` added (or its entry replaced), keeping
 * other entries, even ones this version cannot read, as the user wrote them.
 *
 * @example
 * withRemoteHub([], { url: 'https://hub.example' }) // [{ url: 'https://hub.example' }]
 */
export function withRemoteHub(
  raw: unknown,
  entry: { url: string; name?: string; allowInsecure?: boolean },
): unknown[] {
  const list = Array.isArray(raw) ? raw.filter((item) => !sameUrl(item, entry.url)) : [];
  return [
    ...list,
    {
      url: entry.url,
      ...(entry.name ? { name: entry.name } : {}),
      ...(entry.allowInsecure ? { allowInsecure: true } : {}),
    },
  ];
}

/**
 * The setting's new value without `url`.
 *
 * @example
 * withoutRemoteHub([{ url: 'https://hub.example/' }], 'https://hub.example') // []
 */
export function withoutRemoteHub(raw: unknown, url: string): unknown[] {
  return Array.isArray(raw) ? raw.filter((item) => !sameUrl(item, url)) : [];
}

function sameUrl(item: unknown, url: string): boolean {
  const text =
    typeof item === 'string'
      ? item
      : item !== null &&
          typeof item === 'object' &&
          typeof (item as { url?: unknown }).url === 'string'
        ? (item as { url: string }).url
        : undefined;
  if (text === undefined) return false;
  const checked = normalizeHubUrl(text, true);
  return checked.ok && checked.url === url;
}
