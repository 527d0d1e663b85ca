import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  closeQuickInput,
  codeServerNode,
  FILESYSTEM,
  log,
  quickPickRows,
  ROOT,
  runCommand,
} from './harness.js';
import { rejectCard, waitGone } from './sidebar-driver.js';
import { DARK_THEME, escapeRegExp, LAUNCHER, VsCodeSession } from './vscode-session.js';

// hitloop as a VS Code user gets it: the VSIX installed into a current VS Code
// (code-server 4.139.1) with an empty HOME and no Node on PATH, a workspace
// whose .vscode/hitloop.json lists server-filesystem, and nothing else. The
// extension's MCP server definition provider offers that server through
// hitloop; VS Code lists it and starts it; VS Code's own MCP client calls its
// write_file (asked for by a test-only extension with vscode.lm.invokeTool, as
// agent mode would); the call waits in the hitloop sidebar; Approve writes the
// file (light theme), Reject leaves it untouched (dark theme).

let s: VsCodeSession;
let writeTool: string;

describe(`VS Code's own MCP client through hitloop's provider (code-server, launcher: ${LAUNCHER})`, () => {
  beforeAll(async () => {
    s = await VsCodeSession.open({
      name: 'vscode-mcp',
      vsix: inject('vsix'),
      callerVsix: inject('callerVsix'),
      prepareWorkspace: (workspace) => {
        // The user's server is theirs to start: by absolute path, since PATH
        // has no node. hitloop is what the extension must bring.
        writeFileSync(
          join(workspace, '.vscode', 'hitloop.json'),
          JSON.stringify(
            {
              servers: { files: { command: process.execPath, args: [FILESYSTEM, workspace] } },
              policy: {
                type: 'rules',
                default: 'ask',
                rules: [{ tool: ['read_*', 'list_*'], effect: 'allow' }],
              },
            },
            null,
            2,
          ),
        );
      },
    });
  });

  beforeEach(({ task, onTestFailed }) => {
    onTestFailed(() => s?.onFailure(task.name));
  });

  afterAll(async () => {
    await s?.close();
  });

  it('the extension host has an empty HOME and no node or hitloop on its PATH', async () => {
    const env = await s.extensionHostEnv();
    log(`extension host: ${JSON.stringify(env)}`);
    expect(env.HOME).toBe(s.home);
    const found = env.PATH.split(delimiter).flatMap((dir) =>
      ['node', 'hitloop', 'npx'].map((name) => join(dir, name)).filter((f) => existsSync(f)),
    );
    expect(found, `PATH ${env.PATH}`).toEqual([]);
    // VS Code's own runtime: the Node 24 that runs code-server.
    expect(env.execPath).toBe(codeServerNode());
    // Nothing but what VS Code and the extensions wrote: no hitloop install.
    expect(
      readdirSync(s.home).filter((n) => !['.config', '.local', '.cache', '.hitloop'].includes(n)),
    ).toEqual([]);
  });

  it("the provider's server appears in MCP: List Servers", async () => {
    await runCommand(s.page, 'MCP: List Servers');
    const deadline = Date.now() + 60_000;
    let rows = await quickPickRows(s.page);
    while (!rows.some((r) => /hitloop/i.test(r)) && Date.now() < deadline) {
      await s.page.waitForTimeout(500);
      rows = await quickPickRows(s.page);
    }
    log(`MCP: List Servers shows ${JSON.stringify(rows)}`);
    await s.screenshot('mcp-list-servers');
    expect(rows.some((r) => /hitloop/i.test(r))).toBe(true);
    await closeQuickInput(s.page);
  });

  it('VS Code starts it, and its tools become language-model tools', async () => {
    const tools = await s.startServer(/hitloop/i, (t) => t.name.endsWith('write_file'));
    const writes = tools.filter((t) => t.name.endsWith('write_file'));
    expect(writes.map((t) => t.name)).toHaveLength(1);
    writeTool = writes[0]!.name;
    const mcpTools = tools.filter((t) => t.name.startsWith('mcp_')).map((t) => t.name);
    log(`VS Code names the gated tools: ${mcpTools.join(', ')}`);
    await s.screenshot('server-started');
    expect(mcpTools).toContain(writeTool);

    // Which hitloop VS Code started.
    const argv = s.proxyCommandLine();
    log(`the proxy VS Code started: ${JSON.stringify(argv)}`);
    if (LAUNCHER === 'vsix') {
      // VS Code's own runtime, running the proxy the installed VSIX carries.
      expect(argv[0]).toBe(codeServerNode());
      expect(argv[1]).toMatch(
        new RegExp(`^${escapeRegExp(s.codeServer.extensionsDir)}/hitloop\\.hitloop-[^/]+/`),
      );
    } else {
      expect(argv.slice(0, 2)).toEqual([process.execPath, join(ROOT, 'dist/cli/main.js')]);
    }
    expect(argv).toContain('proxy');
  });

  it("Approve: VS Code's call waits in the sidebar, then writes the file (light theme)", async () => {
    expect(writeTool, 'the previous test found the tool').toBeTruthy();
    const args = { path: join(s.workspace, 'approved.txt'), content: 'written after approval' };
    const result = s.invoke(writeTool, args);
    const question = await s.confirmVsCodeRun('vscode-confirms-approve');
    // VS Code names the tool by its title ("Write File") when the server gives one.
    expect(question).toMatch(/Write File|write_file/);

    const { frame, scope, approval } = await s.pendingWrite(args.path, args.content);
    expect(existsSync(args.path)).toBe(false);
    await s.expectWebviewTheme(frame, 'vscode-light');
    // At the width the issue measured (a 282 px view showed a horizontal
    // scrollbar on 1.139), and at the default width.
    await s.resizeSidebar(282);
    const narrow = await s.sidebarOverflow();
    log(`sidebar at ${narrow.view} px: ${JSON.stringify(narrow)}`);
    await s.sidebarShot('sidebar-pending-light-282px');
    expect(narrow.page, 'the view scrolls sideways').toBeLessThanOrEqual(narrow.view);
    expect(narrow.scrolling).toEqual([]);
    await s.resizeSidebar(300);
    await s.screenshot('pending-light');
    await s.sidebarShot('sidebar-pending-light');

    await s.approveWrite({ approval, frame, scope }, result, args);
    await s.screenshot('approved-light');
  });

  it('Reject: the file stays untouched, and VS Code is told it did not run (dark theme)', async () => {
    expect(writeTool, 'an earlier test found the tool').toBeTruthy();
    await s.setColorTheme(DARK_THEME);
    const target = join(s.workspace, 'keep.txt');
    writeFileSync(target, 'original content\n');
    const args = { path: target, content: 'must never be written' };
    const reason = 'e2e: keep.txt stays as it is';
    const result = s.invoke(writeTool, args);
    await s.confirmVsCodeRun('vscode-confirms-reject');

    const { frame, scope, approval } = await s.pendingWrite(args.path, args.content);
    await s.expectWebviewTheme(frame, 'vscode-dark');
    await s.screenshot('pending-dark');
    await s.sidebarShot('sidebar-pending-dark');
    await rejectCard(frame, scope, reason, () => s.screenshot('reject-reason-dark'));

    const outcome = await result;
    log(`invokeTool after Reject: ${JSON.stringify(outcome)}`);
    // VS Code hands an MCP error result back as the tool's text, without throwing.
    const text = outcome.ok ? outcome.texts.join('\n') : outcome.error;
    expect(text).toMatch(/not executed/i);
    expect(text).toContain(reason);
    expect(readFileSync(target, 'utf8')).toBe('original content\n');
    await waitGone(frame, approval.id);
    await s.screenshot('rejected-dark');
  });
});
