import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { parseJsonc } from '../../mcp-server/proxy/config/jsonc.js';
import {
  clickNotificationButton,
  closeQuickInput,
  FILESYSTEM,
  log,
  notificationItem,
  notificationTexts,
  quickPickRows,
  runCommand,
} from './harness.js';
import { DARK_THEME, LAUNCHER, VsCodeSession } from './vscode-session.js';

// A workspace whose own .vscode/mcp.json declares server-filesystem, and the
// VSIX installed, nothing else. hitloop's provider offers the server's gated
// copy, "files (via hitloop)", next to the original; hitloop says once that
// the original is still ungated, with one button that routes it. A call
// through the copy waits in the sidebar (hitloop.home set in the User
// settings only, as a code-server user sets it, is where it is announced);
// the notification about the call closes when the sidebar approves it. The
// button routes mcp.json in one step, after which the provider offers no
// copy and the file's own entry runs through hitloop.

/** VS Code's variable, kept as text in mcp.json (VS Code expands it when it starts the server). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text of a VS Code variable
const WORKSPACE_FOLDER = '${workspaceFolder}';
const NOTICE = /still runs? without approval/;
const COPY = /^files \(via hitloop\)/;

let s: VsCodeSession;
let mcpJson: string;
let writeTool: string;

async function listServers(): Promise<string[]> {
  await runCommand(s.page, 'MCP: List Servers');
  const rows = await quickPickRows(s.page);
  await closeQuickInput(s.page);
  return rows;
}

describe(`mcp.json servers gated in VS Code by the provider (launcher: ${LAUNCHER})`, () => {
  beforeAll(async () => {
    s = await VsCodeSession.open({
      name: 'vscode-mcpjson',
      vsix: inject('vsix'),
      callerVsix: inject('callerVsix'),
      homeInUserSettings: true,
      // A second server in the user's own mcp.json, found by the extension
      // from its global storage folder (code-server's --user-data-dir).
      userMcpJson: (root) => {
        mkdirSync(join(root, 'notes'), { recursive: true });
        return JSON.stringify(
          {
            servers: {
              notes: {
                type: 'stdio',
                command: process.execPath,
                args: [FILESYSTEM, join(root, 'notes')],
              },
            },
          },
          null,
          2,
        );
      },
      // Every request notifies, even with the sidebar open.
      settings: { 'hitloop.notifications': 'always' },
      prepareWorkspace: (workspace) => {
        mcpJson = join(workspace, '.vscode', 'mcp.json');
        writeFileSync(
          mcpJson,
          `{
  // files: the official filesystem server, limited to this workspace
  "servers": {
    "files": {
      "type": "stdio",
      "command": ${JSON.stringify(process.execPath)},
      "args": [${JSON.stringify(FILESYSTEM)}, "${WORKSPACE_FOLDER}"]
    }
  }
}
`,
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

  it('hitloop says once that the originals are still ungated, naming them and both files, with a Route button', async () => {
    const notice = await notificationItem(s.page, NOTICE, 60_000);
    const text = await notice.innerText();
    log(`the notice: ${JSON.stringify(text)}`);
    expect(text).toMatch(/files, notes/);
    expect(text).toMatch(/\.vscode\/mcp\.json/);
    expect(text).toContain(s.userMcpJson);
    await s.screenshot('ungated-notice');
  });

  it('MCP: List Servers shows the gated copy beside the original', async () => {
    const deadline = Date.now() + 60_000;
    let rows = await listServers();
    while (!rows.some((r) => COPY.test(r)) && Date.now() < deadline) {
      await s.page.waitForTimeout(1000);
      rows = await listServers();
    }
    log(`MCP: List Servers shows ${JSON.stringify(rows)}`);
    expect(rows.some((r) => COPY.test(r))).toBe(true);
    expect(rows.some((r) => /^notes \(via hitloop\)/.test(r))).toBe(true);
    // VS Code's own entries for the originals.
    expect(rows.some((r) => /^files\b(?! \(via hitloop\))/.test(r))).toBe(true);
    expect(rows.some((r) => /^notes\b(?! \(via hitloop\))/.test(r))).toBe(true);
    await runCommand(s.page, 'MCP: List Servers');
    await s.screenshot('mcp-list-servers-copy');
    await closeQuickInput(s.page);
  });

  it('a call through the copy waits in the sidebar (hitloop.home from User settings); its notification closes once the sidebar approves it', async () => {
    const tools = await s.startServer(COPY, (t) => t.name.endsWith('write_file'));
    const writes = tools.filter((t) => t.name.endsWith('write_file')).map((t) => t.name);
    log(`write_file tools: ${writes.join(', ')}`);
    expect(writes).toHaveLength(1);
    writeTool = writes[0]!;
    const args = { path: join(s.workspace, 'via-copy.txt'), content: 'written through the copy' };
    const result = s.invoke(writeTool, args);
    await s.confirmVsCodeRun('vscode-confirms-copy', result);
    // Announced under the hitloop.home of the User settings (pendingWrite
    // reads the hubs there), and shown by the sidebar, which reads it too.
    const pending = await s.pendingWrite(args.path, args.content);
    expect(pending.approval.server).toBe('files');
    expect(existsSync(join(s.home, '.hitloop', 'hubs'))).toBe(false);
    const toast = await notificationItem(s.page, /write_file.*waits for approval/, 30_000);
    log(`the request's notification: ${JSON.stringify(await toast.innerText())}`);
    await s.screenshot('copy-pending-notified');
    await s.approveWrite(pending, result, args);
    // Decided in the sidebar: the notification's Approve / Reject go with it.
    await toast.waitFor({ state: 'detached', timeout: 15_000 });
    const left = await notificationTexts(s.page);
    log(`notifications after Approve: ${JSON.stringify(left)}`);
    expect(left.some((t) => /waits for approval/.test(t))).toBe(false);
    await s.screenshot('copy-approved-notification-gone');
  });

  it("the notification's Approve link decides a call, and the notification closes", async () => {
    expect(writeTool, 'the previous test found the tool').toBeTruthy();
    const args = {
      path: join(s.workspace, 'via-link.txt'),
      content: 'approved from the notification',
    };
    const result = s.invoke(writeTool, args);
    await s.confirmVsCodeRun('vscode-confirms-link', result);
    const toast = await notificationItem(
      s.page,
      /via-link\.txt.*waits for approval|waits for approval.*via-link\.txt/,
      30_000,
    );
    expect(existsSync(args.path)).toBe(false);
    await toast.locator('a', { hasText: /^Approve$/ }).click();
    const outcome = await result;
    log(`invokeTool after the notification's Approve: ${JSON.stringify(outcome)}`);
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    expect(readFileSync(args.path, 'utf8')).toBe(args.content);
    await toast.waitFor({ state: 'detached', timeout: 15_000 });
  });

  it("the notice's button routes mcp.json in one step, and the provider stops offering the copy (dark theme)", async () => {
    await s.setColorTheme(DARK_THEME);
    const notice = await notificationItem(s.page, NOTICE, 30_000);
    await clickNotificationButton(notice, /Route Through hitloop/);
    const deadline = Date.now() + 15_000;
    let entry: { command: string; args: string[] } | undefined;
    while (Date.now() < deadline) {
      const parsed = parseJsonc(readFileSync(mcpJson, 'utf8'), mcpJson).value as {
        servers: Record<string, { command: string; args: string[] }>;
      };
      entry = parsed.servers.files;
      if (entry?.args.includes('proxy')) break;
      await s.page.waitForTimeout(200);
    }
    log(`routed entry: ${JSON.stringify(entry)}`);
    expect(entry?.args).toContain('proxy');
    // The user's mcp.json too, in the same step.
    const user = JSON.parse(readFileSync(s.userMcpJson, 'utf8')) as {
      servers: Record<string, { args: string[] }>;
    };
    expect(user.servers.notes?.args).toContain('proxy');
    if (LAUNCHER === 'vsix') expect(entry?.command).toBe(join(s.hitloopHome, 'bin', 'hitloop'));
    const routed = await notificationItem(s.page, /routed 2 servers/, 15_000);
    expect(await routed.innerText()).toMatch(/Undo/);
    await s.screenshot('routed-from-notice-dark');

    const until = Date.now() + 30_000;
    let rows = await listServers();
    while (rows.some((r) => /via hitloop/.test(r)) && Date.now() < until) {
      await s.page.waitForTimeout(1000);
      rows = await listServers();
    }
    log(`MCP: List Servers after routing: ${JSON.stringify(rows)}`);
    expect(rows.some((r) => /via hitloop/.test(r))).toBe(false);
    expect(rows.some((r) => /^files\b/.test(r))).toBe(true);
  });

  it('the routed entry runs through hitloop: a call waits in the sidebar (dark theme)', async () => {
    expect(writeTool, 'an earlier test found the tool').toBeTruthy();
    await s.startServer(/^files\b/, (t) => t.name.endsWith('write_file'));
    const args = { path: join(s.workspace, 'routed.txt'), content: 'written through the route' };
    const result = s.invoke(writeTool, args);
    await s.confirmVsCodeRun('vscode-confirms-routed', result);
    const pending = await s.pendingWrite(args.path, args.content);
    expect(pending.approval.server).toBe('files');
    expect(existsSync(args.path)).toBe(false);
    await s.screenshot('routed-pending-dark');
    await s.sidebarShot('sidebar-routed-pending-dark');
    await s.approveWrite(pending, result, args);
  });
});
