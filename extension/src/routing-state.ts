import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { unwrapFile } from '../../mcp-server/wrap/files.js';

// Whether the workspace has servers to route, or routed ones to undo: what
// the Route and Undo commands are shown for. No `vscode` import.

/** Where a workspace folder keeps the MCP servers VS Code starts. */
export const MCP_JSON = join('.vscode', 'mcp.json');

/** How many folders have a `.vscode/mcp.json`, and in how many of those a server goes through hitloop. */
export interface RoutingState {
  mcpJsonFiles: number;
  routedFiles: number;
}

/**
 * Looks at each folder's `.vscode/mcp.json`. A file that does not parse
 * counts as present and not routed (the commands then say what is wrong).
 *
 * @example
 * routingState(['/work/project']) // { mcpJsonFiles: 1, routedFiles: 0 }
 */
export function routingState(folders: readonly string[]): RoutingState {
  let mcpJsonFiles = 0;
  let routedFiles = 0;
  for (const folder of folders) {
    const file = join(folder, MCP_JSON);
    if (!existsSync(file)) continue;
    mcpJsonFiles++;
    try {
      // A dry run of undo: would it change anything?
      if (unwrapFile(file, { dryRun: true }).changed) routedFiles++;
    } catch {
      // unreadable or not JSON: not routed
    }
  }
  return { mcpJsonFiles, routedFiles };
}
