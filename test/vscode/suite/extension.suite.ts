import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { HitloopExtensionApi } from '../../../extension/src/extension.js';
import { ApprovalHub } from '../../../shared/hub/approval-hub.js';
import type { ApprovalRecord } from '../../../shared/hub/protocol.js';
import { MemoryApprovalStore } from '../../../shared/stores/memory-store.js';
import { argsHash } from '../../../shared/util/canonical-json.js';

// Runs inside VS Code's extension host (see ../run.mjs): the real `vscode`
// API, the extension as built into dist/extension.

const EXTENSION_ID = 'hitloop.hitloop';

async function until<T>(check: () => T, ms = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function pending(hubId: string, cwd: string): ApprovalRecord {
  const args = { path: join(cwd, 'note.txt'), content: 'from the extension-host test' };
  return {
    id: `ext-${Date.now()}`,
    hubId,
    runId: 'run',
    status: 'pending',
    server: 'fs',
    tool: 'write_file',
    riskClass: 'medium',
    policyName: 'rules',
    policyReason: 'default is ask',
    rationale: '',
    cwd,
    args,
    argsHash: argsHash(args),
    createdAt: new Date().toISOString(),
  };
}

describe('hitloop extension', () => {
  let api: HitloopExtensionApi;

  before(async () => {
    const extension = vscode.extensions.getExtension<HitloopExtensionApi>(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is installed`);
    api = await extension.activate();
  });

  it('activates and returns its API', () => {
    assert.equal(typeof api.snapshot, 'function');
    assert.ok(Array.isArray(api.snapshot().pending));
  });

  it('registers every contributed command', async () => {
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as {
      contributes: { commands: Array<{ command: string }> };
    };
    const all = new Set(await vscode.commands.getCommands(true));
    for (const { command } of manifest.contributes.commands) assert.ok(all.has(command), command);
  });

  it('resolves the Approvals view when shown', async () => {
    await vscode.commands.executeCommand('hitloop.showApprovals');
    await until(() => api.viewResolved(), 10_000, 'the webview view to resolve');
  });

  it('offers the MCP server definition provider where VS Code has the API', () => {
    const lm = (vscode as unknown as { lm?: { registerMcpServerDefinitionProvider?: unknown } }).lm;
    assert.equal(
      api.mcpProviderRegistered,
      typeof lm?.registerMcpServerDefinitionProvider === 'function',
    );
  });

  it('shows a running hub’s request and approves it through hitloop.approve', async () => {
    const home = process.env.HITLOOP_HOME;
    assert.ok(home, 'run.mjs sets HITLOOP_HOME');
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
    const hub = new ApprovalHub({
      store: new MemoryApprovalStore(),
      home,
      name: 'extension-host test',
    });
    await hub.start();
    try {
      const record = pending(hub.hubId, cwd);
      await hub.publish(record);
      await until(
        () => api.snapshot().pending.some((p) => p.approval.id === record.id),
        10_000,
        'the request',
      );
      await vscode.commands.executeCommand('hitloop.approve', { hubId: hub.hubId, id: record.id });
      const stored = await hub.store.get(record.id);
      assert.equal(stored?.status, 'approved');
      assert.match(stored?.decision?.decidedBy ?? '', /^vscode:/);
      await until(() => api.snapshot().pending.length === 0, 10_000, 'the list to empty');
    } finally {
      await hub.stop();
    }
  });

  it('keeps the workspace mcp.json intact until routing is asked for', () => {
    const workspace = process.env.HITLOOP_TEST_WORKSPACE;
    if (!workspace) return;
    const text = readFileSync(join(workspace, '.vscode', 'mcp.json'), 'utf8');
    assert.ok(!text.includes('hitloop'), 'activation does not rewrite mcp.json');
  });
});
