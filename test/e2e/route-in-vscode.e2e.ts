import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { parseJsonc } from '../../mcp-server/proxy/config/jsonc.js';
import { discoverHubs } from '../../shared/hub/index.js';
import {
  answerDialog,
  codeServerNode,
  FILESYSTEM,
  log,
  paletteTitle,
  ROOT,
  runCommand,
} from './harness.js';
import { escapeRegExp, LAUNCHER, type ToolInfo, VsCodeSession } from './vscode-session.js';

// The Route command from the VSIX alone: a workspace's own .vscode/mcp.json
// server (server-filesystem) runs directly in VS Code; "Route Workspace MCP
// Servers Through hitloop" rewrites mcp.json after a confirmation, so the
// server starts through the proxy the VSIX carries (by the fixed-path
// launcher the extension writes under HOME/.hitloop/bin, with VS Code's own
// runtime); VS Code's tool name stays what it was; a call now waits in the
// sidebar and Approve writes the file; Undo Routing restores mcp.json byte
// for byte.

/** VS Code's variable, kept as text in mcp.json (VS Code expands it when it starts the server). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text of a VS Code variable
const WORKSPACE_FOLDER = '${workspaceFolder}';

let s: VsCodeSession;
let mcpJson: string;
let original: string;
let directTool: string;

const writeTools = (tools: ToolInfo[]) =>
  tools.filter((t) => t.name.endsWith('write_file')).map((t) => t.name);

describe(`Route in VS Code: a workspace's mcp.json server through the VSIX's proxy (launcher: ${LAUNCHER})`, () => {
  beforeAll(async () => {
    s = await VsCodeSession.open({
      name: 'vscode-route',
      vsix: inject('vsix'),
      callerVsix: inject('callerVsix'),
      prepareWorkspace: (workspace) => {
        mcpJson = join(workspace, '.vscode', 'mcp.json');
        // The user's server, by absolute path (no node on PATH), with a
        // comment that Undo must bring back.
        original = `{
  // files: the official filesystem server, limited to this workspace
  "servers": {
    "files": {
      "type": "stdio",
      "command": ${JSON.stringify(process.execPath)},
      "args": [${JSON.stringify(FILESYSTEM)}, "${WORKSPACE_FOLDER}"]
    }
  }
}
`;
        writeFileSync(mcpJson, original);
      },
    });
  });

  beforeEach(({ task, onTestFailed }) => {
    onTestFailed(() => s?.onFailure(task.name));
  });

  afterAll(async () => {
    await s?.close();
  });

  it('before routing, VS Code runs the server directly', async () => {
    const tools = await s.startServer(/^files\b/, (t) => t.name.endsWith('write_file'));
    expect(writeTools(tools)).toHaveLength(1);
    directTool = writeTools(tools)[0]!;
    log(`VS Code names the direct server's write_file ${directTool}`);
    expect(discoverHubs(s.hitloopHome)).toEqual([]);
  });

  it('Route rewrites mcp.json, after a confirmation, to start the proxy the VSIX carries', async () => {
    await runCommand(s.page, paletteTitle(s.codeServer.manifest, 'hitloop.routeWorkspaceServers'));
    const dialog = await answerDialog(s.page, /^Route$/, 30_000, () =>
      s.screenshot('route-confirmation'),
    );
    log(`Route asked: ${JSON.stringify(dialog)}`);
    expect(dialog.message).toMatch(/files/);

    const deadline = Date.now() + 15_000;
    while (readFileSync(mcpJson, 'utf8') === original && Date.now() < deadline) {
      await s.page.waitForTimeout(200);
    }
    // Route keeps the file's comments: JSON with comments.
    const routed = parseJsonc(readFileSync(mcpJson, 'utf8'), mcpJson).value as {
      servers: Record<string, { command: string; args: string[] }>;
    };
    const entry = routed.servers.files!;
    log(`routed entry: ${JSON.stringify(entry)}`);
    if (LAUNCHER === 'vsix') {
      // A launcher at a path that survives extension updates, not the
      // versioned extension folder, and not `npx -y hitloop`.
      expect(entry.command).toBe(join(s.hitloopHome, 'bin', 'hitloop'));
    } else {
      expect([entry.command, ...entry.args].slice(0, 2)).toEqual([
        process.execPath,
        join(ROOT, 'dist/cli/main.js'),
      ]);
    }
    expect(entry.args).toContain('proxy');
    expect(entry.args.slice(entry.args.indexOf('--') + 1)).toEqual([
      process.execPath,
      FILESYSTEM,
      WORKSPACE_FOLDER,
    ]);
    // The backup Undo restores from.
    expect(readdirSync(join(s.workspace, '.vscode')).some((n) => /hitloop-backup/.test(n))).toBe(
      true,
    );
  });

  it("VS Code restarts it through hitloop, the tool keeps its name, and Approve runs VS Code's call", async () => {
    expect(directTool, 'the first test found the tool').toBeTruthy();
    await s.startServer(/^files\b/, (t) => t.name.endsWith('write_file'));
    const deadline = Date.now() + 30_000;
    while (discoverHubs(s.hitloopHome).length === 0) {
      if (Date.now() > deadline) throw new Error('the routed server started no hitloop proxy');
      await s.page.waitForTimeout(200);
    }
    const argv = s.proxyCommandLine();
    log(`the proxy VS Code started for the routed server: ${JSON.stringify(argv)}`);
    if (LAUNCHER === 'vsix') {
      // The launcher exec'd VS Code's own runtime on the VSIX's proxy.
      expect(argv[0]).toBe(codeServerNode());
      expect(argv[1]).toMatch(
        new RegExp(`^${escapeRegExp(s.codeServer.extensionsDir)}/hitloop\\.hitloop-[^/]+/`),
      );
    }

    // The name the user's tool references and per-tool settings know, from
    // before routing: VS Code must still find the tool by it. (VS Code keeps
    // listing a restarted server's cached tools until the new process has
    // listed its own, so the list alone cannot tell before the call.)
    const args = { path: join(s.workspace, 'routed.txt'), content: 'written through the route' };
    const result = s.invoke(directTool, args);
    try {
      await s.confirmVsCodeRun('vscode-confirms-routed', result);
    } catch (err) {
      const names = writeTools(await s.lmTools()).join(', ');
      throw new Error(
        `VS Code did not run ${directTool} after routing (write_file tools now: ${names}): ${(err as Error).message}`,
      );
    }
    const { frame, scope, approval } = await s.pendingWrite(args.path, args.content);
    expect(approval.server).toBe('files');
    expect(existsSync(args.path)).toBe(false);
    await s.screenshot('routed-pending');
    await s.approveWrite({ approval, frame, scope }, result, args);
    // The call went through the routed server, so the list is its own now.
    expect(writeTools(await s.lmTools())).toEqual([directTool]);
  });

  it('Undo Routing restores mcp.json byte for byte', async () => {
    await runCommand(
      s.page,
      paletteTitle(s.codeServer.manifest, 'hitloop.undoRouteWorkspaceServers'),
    );
    const deadline = Date.now() + 15_000;
    while (readFileSync(mcpJson, 'utf8') !== original && Date.now() < deadline) {
      await s.page.waitForTimeout(200);
    }
    expect(readFileSync(mcpJson, 'utf8')).toBe(original);
    await s.screenshot('route-undone');
  });
});
