// What the proxy calls itself in its initialize result (`serverInfo`).
//
// Clients build names from it: VS Code makes every tool's reference name
// `mcp_<prefix>_<tool>`, the prefix cut from `serverInfo.title ?? name` (13
// characters, numbered on a clash: `mcp_hitloop_appr2_`). When every routed
// server answered "hitloop approval proxy", routing renamed each tool, the
// number depended on which server started first, and the user's tool
// references and per-tool settings broke. So a proxy in front of one server
// answers with that server's own name and title: routing renames nothing. A
// proxy in front of several answers with the name the client knows it by
// (`proxy.nameInClient`), which is stable because it comes from the config.
// The description still says that hitloop is in between.

/** The part of an upstream server the identity is made from. */
export interface UpstreamIdentity {
  /** The server's name in the proxy's config (`--name`, or its key under `servers`). */
  name: string;
  /** What the server answered to initialize, if it has (untrusted input). */
  serverInfo: Record<string, unknown> | undefined;
}

/** The MCP `Implementation` object the proxy reports. */
export interface ProxyServerInfo {
  name: string;
  title?: string;
  version: string;
  description: string;
  websiteUrl?: string;
  icons?: unknown[];
}

// A server's self-description reaches the client's UI; keep it to a sane size.
const MAX_TEXT = 200;

function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed.slice(0, MAX_TEXT);
}

/**
 * The `serverInfo` for the proxy's initialize result. In front of one server:
 * that server's name, title, version, website and icons, as it reported them
 * (its config name when it has not answered yet). In front of several (or
 * none): `nameInClient`. The description names hitloop and its version.
 *
 * @example
 * proxyServerInfo([{ name: 'files', serverInfo: { name: 'secure-filesystem-server', version: '0.2.0' } }], 'hitloop', '0.1.0')
 * // { name: 'secure-filesystem-server', version: '0.2.0',
 * //   description: 'files, gated by hitloop 0.1.0: calls that need a human wait for approval' }
 */
export function proxyServerInfo(
  servers: readonly UpstreamIdentity[],
  nameInClient: string,
  hitloopVersion: string,
): ProxyServerInfo {
  const gate = `gated by hitloop ${hitloopVersion}: calls that need a human wait for approval`;
  const [only, ...others] = servers;
  if (!only || others.length > 0) {
    return {
      name: nameInClient,
      version: hitloopVersion,
      description:
        servers.length === 0
          ? `hitloop ${hitloopVersion} approval proxy`
          : `${servers.map((s) => s.name).join(', ')}, ${gate}`,
    };
  }
  const info = only.serverInfo ?? {};
  const title = text(info.title);
  const websiteUrl = text(info.websiteUrl);
  const icons = Array.isArray(info.icons) ? info.icons.slice(0, 8) : undefined;
  return {
    name: text(info.name) ?? only.name,
    ...(title ? { title } : {}),
    version: text(info.version) ?? hitloopVersion,
    description: `${only.name}, ${gate}`,
    ...(websiteUrl ? { websiteUrl } : {}),
    ...(icons?.length ? { icons } : {}),
  };
}
