import type { Action } from '../../../shared/models/action.js';
import { effectiveRisk } from '../../../shared/policies/tool-risk.js';
import { uuidv7 } from '../../../shared/util/uuidv7.js';

// How the proxy names tools to the client and turns a call into the Action
// its policy judges. `hitloop policy check` uses the same functions, so the
// verdict it prints is the one the proxy gives.

/** How exposed tool names are formed (`proxy.prefixNames`, `proxy.separator`). */
export interface ToolNaming {
  prefixNames: boolean;
  separator: string;
}

/**
 * The name a client sees for `tool` of `server`.
 *
 * @example
 * exposedToolName('fs', 'write_file', { prefixNames: true, separator: '__' }) // 'fs__write_file'
 */
export function exposedToolName(server: string, tool: string, naming: ToolNaming): string {
  return naming.prefixNames ? `${server}${naming.separator}${tool}` : tool;
}

/**
 * The server and tool behind an exposed name, the inverse of
 * {@link exposedToolName}: with prefixes, the server is the part before the
 * first separator (server names cannot contain it); without, it is `server`
 * when given, else the only server. A string is a problem a person can act on.
 *
 * @example
 * splitExposedName('fs__write_file', ['fs', 'memory'], { prefixNames: true, separator: '__' }) // { server: 'fs', tool: 'write_file' }
 */
export function splitExposedName(
  name: string,
  servers: readonly string[],
  naming: ToolNaming,
  server?: string,
): { server: string; tool: string } | string {
  const known = servers.map((s) => JSON.stringify(s)).join(', ');
  if (server !== undefined && !servers.includes(server))
    return `no server named "${server}"; the servers are ${known}`;
  if (!naming.prefixNames) {
    if (server !== undefined) return { server, tool: name };
    if (servers.length === 1) return { server: servers[0]!, tool: name };
    return `tool names are not prefixed (proxy.prefixNames is false), so "${name}" could belong to any of ${known}; say which with --server`;
  }
  const at = name.indexOf(naming.separator);
  if (at > 0) {
    const prefix = name.slice(0, at);
    const tool = name.slice(at + naming.separator.length);
    if (servers.includes(prefix) && tool !== '' && (server === undefined || server === prefix))
      return { server: prefix, tool };
  }
  // `--server fs --tool write_file`: the name as the server lists it.
  if (server !== undefined) return { server, tool: name };
  return `"${name}" is not a name this proxy exposes: tools are called SERVER${naming.separator}TOOL with SERVER one of ${known}, e.g. ${exposedToolName(servers[0] ?? 'fs', 'write_file', naming)}`;
}

/**
 * The Action the proxy's policy judges for a call of `tool` on `server`.
 * Risk is `medium` (unknown) unless the server is trusted and its tool
 * annotations say otherwise (see effectiveRisk).
 *
 * @example
 * toolCallAction({ name: 'fs', trusted: false }, { name: 'write_file' }, { path: '/tmp/a' }).riskClass // 'medium'
 */
export function toolCallAction(
  server: { name: string; trusted: boolean },
  tool: { name: string; annotations?: unknown },
  toolArgs: Record<string, unknown>,
): Action {
  // Built directly rather than through the zod schema: every field is known
  // to be valid here, and this is the hot path of every allowed call.
  const action: Action = {
    id: uuidv7(),
    toolName: tool.name,
    toolArgs,
    server: server.name,
    // Unknown risk is medium; a trusted server's annotations may say otherwise.
    riskClass: 'medium',
    sideEffects: [],
    rationale: '',
    contextRefs: [],
  };
  if (tool.annotations) action.annotations = tool.annotations as Action['annotations'];
  if (server.trusted) action.riskClass = effectiveRisk(action, new Set([server.name]));
  return action;
}
