import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledLaunch, writeStableLauncher } from '../../mcp-server/wrap/embedded.js';
import { wrapFile } from '../../mcp-server/wrap/files.js';
import { discoverHubs } from '../../shared/hub/discovery.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { cachedNode, cachedNodes } from './node-runtimes.js';

// The user's side of "install the VSIX, nothing else": the packed VSIX is
// unpacked into a temporary folder and its proxy started exactly as the
// extension starts it (bundled-proxy.ts): VS Code's runtime on the bundled
// CLI. A Node 24 from npm plays VS Code's runtime (code-server 4.139 runs on
// it; desktop VS Code's Electron has a Node 22 with the same node:sqlite).
// HOME is empty and PATH holds no node and no hitloop. A real MCP SDK client
// lists and calls server-filesystem's tools through it; a person approves
// and rejects through the hub, as the sidebar does; telemetry and the
// approval store land in SQLite through node:sqlite, since nothing in the
// VSIX can load better-sqlite3. The test process (the system Node, with
// better-sqlite3) then reads the files the other driver wrote.

const ROOT = join(import.meta.dirname, '..', '..');
const FILESYSTEM = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
// Node 24 is required (CI fails without it); every other cached Node from 22
// on (the oldest with node:sqlite unflagged, and the Node 22 line that
// desktop VS Code's Electron carries) runs the same checks.
const REQUIRED = cachedNode(24);
const RUNTIMES = cachedNodes().filter((n) => Number(n.version.split('.')[0]) >= 22);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() || e.isDirectory())
    .map((e) => join(e.parentPath, e.name));
}

function text(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

describe.skipIf(!REQUIRED).each(RUNTIMES)(
  'the VSIX alone, its proxy run by Node $version as VS Code’s runtime',
  ({ node: NODE24 }) => {
    let work: string;
    let ext: string;
    let home: string;
    let hitloopHome: string;
    let project: string;
    let emptyBin: string;
    let vsixKb: number;

    beforeAll(() => {
      work = mkdtempSync(join(tmpdir(), 'hitloop-vsix-'));
      const vsix = join(work, 'hitloop.vsix');
      const pack = spawnSync(
        process.execPath,
        [join(ROOT, 'scripts/package-extension.mjs'), '--out', vsix],
        {
          encoding: 'utf8',
          cwd: ROOT,
        },
      );
      expect(pack.status, pack.stderr + pack.stdout).toBe(0);
      vsixKb = statSync(vsix).size / 1024;
      const unzip = spawnSync('unzip', ['-q', vsix, '-d', join(work, 'unpacked')], {
        encoding: 'utf8',
      });
      expect(unzip.error?.message ?? unzip.stderr, 'unzip (Debian package unzip)').toBeFalsy();
      // What VS Code makes of a VSIX: the `extension/` folder of the archive.
      ext = join(work, 'unpacked', 'extension');
      home = join(work, 'home');
      hitloopHome = join(home, '.hitloop');
      project = join(work, 'project');
      emptyBin = join(work, 'empty-bin');
      for (const d of [home, project, emptyBin]) mkdirSync(d, { recursive: true });
      writeFileSync(join(project, 'notes.txt'), 'hello from the project\n');
    });

    afterAll(() => {
      if (work) rmSync(work, { recursive: true, force: true });
    });

    /** The environment VS Code gives the server: an empty HOME, no node or hitloop on PATH. */
    const env = (extra: Record<string, string> = {}) => ({
      HOME: home,
      PATH: emptyBin,
      ...extra,
    });

    /** Waits for the one pending approval of `tool`, then decides it as a reviewer would. */
    async function decide(approve: boolean): Promise<ApprovalRecord> {
      const until = Date.now() + 20_000;
      for (;;) {
        for (const hub of discoverHubs(hitloopHome)) {
          const client = new HubClient(hub);
          const [pending] = await client.listPending().catch(() => []);
          if (pending)
            return client.decide(pending.id, {
              approve,
              argsHash: pending.argsHash,
              decidedBy: 'test:reviewer',
              ...(approve ? {} : { reason: 'not this file' }),
            });
        }
        if (Date.now() > until) throw new Error('no pending approval appeared in the hub');
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    async function connect(command: string, args: string[], extraEnv: Record<string, string>) {
      const transport = new StdioClientTransport({
        command,
        args,
        env: env(extraEnv),
        cwd: project,
        stderr: 'pipe',
      });
      let stderr = '';
      transport.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const client = new Client({ name: 'vscode-stand-in', version: '1.0.0' });
      await client.connect(transport);
      return { client, stderr: () => stderr };
    }

    it('carries the proxy and nothing native', () => {
      const files = filesUnder(ext).map((f) => f.slice(ext.length + 1));
      expect(files).toContain(join('dist', 'cli', 'main.js'));
      expect(files).toContain(join('dist', 'hub-page', 'index.html'));
      expect(files.filter((f) => f.includes('node_modules') || f.endsWith('.node'))).toEqual([]);
      // The CLI's chunks are ES modules: the manifest beside them must say so.
      expect(JSON.parse(readFileSync(join(ext, 'package.json'), 'utf8')).type).toBe('module');
      expect(vsixKb).toBeLessThan(1024);
      // A runtime with neither driver (this machine's Node 20: no node:sqlite,
      // and the VSIX has no better-sqlite3) gets one line naming both and the fix.
      if (Number(process.versions.node.split('.')[0]) < 22) {
        writeFileSync(join(work, 'empty.db'), '');
        const old = spawnSync(
          process.execPath,
          [
            join(ext, 'dist', 'cli', 'main.js'),
            'telemetry',
            'export',
            '--db',
            join(work, 'empty.db'),
            '--format',
            'csv',
          ],
          { encoding: 'utf8', env: env() },
        );
        expect(old.status).toBe(1);
        expect(old.stderr).toContain('hitloop needs SQLite, and no driver loads in this runtime');
        expect(old.stderr).toContain('run hitloop with Node 22.13 or newer');
      }
    });

    it('as the MCP provider starts it: lists, then calls a tool that waits for approval', async () => {
      const config = join(project, '.vscode', 'hitloop.json');
      mkdirSync(join(project, '.vscode'), { recursive: true });
      writeFileSync(
        config,
        JSON.stringify({ servers: { files: { command: NODE24!, args: [FILESYSTEM, project] } } }),
      );
      // What provideMcpServerDefinitions returns for this workspace.
      const launch = bundledLaunch(join(ext, 'dist', 'cli', 'main.js'), {
        execPath: NODE24!,
        electron: false,
      });
      const { client, stderr } = await connect(
        launch.command,
        [...launch.args, 'proxy', '--config', config],
        launch.env,
      );
      try {
        const tools = (await client.listTools()).tools.map((t) => t.name);
        const write = tools.find((t) => t.endsWith('write_file'));
        expect(write, tools.join(', ')).toBeDefined();

        const approved = client.callTool({
          name: write!,
          arguments: { path: join(project, 'approved.txt'), content: 'written after approval' },
        });
        expect((await decide(true)).status).toBe('approved');
        const done = (await approved) as CallToolResult;
        expect(done.isError ?? false, text(done)).toBe(false);
        expect(readFileSync(join(project, 'approved.txt'), 'utf8')).toBe('written after approval');

        const rejected = client.callTool({
          name: write!,
          arguments: { path: join(project, 'rejected.txt'), content: 'must not be written' },
        });
        expect((await decide(false)).status).toBe('rejected');
        const refused = (await rejected) as CallToolResult;
        expect(refused.isError).toBe(true);
        expect(text(refused)).toContain('NOT executed');
        expect(existsSync(join(project, 'rejected.txt'))).toBe(false);
      } finally {
        await client.close();
      }
      // No "ExperimentalWarning: SQLite" or driver complaint in the server's log.
      expect(stderr()).not.toMatch(/ExperimentalWarning|better-sqlite3|node:sqlite/);

      // Written through node:sqlite, read here through better-sqlite3.
      const telemetry = join(hitloopHome, 'telemetry.db');
      const db = new Database(telemetry, { readonly: true, fileMustExist: true });
      const decided = db
        .prepare(
          "SELECT json_extract(payload, '$.approved') AS approved FROM trace_events WHERE event_type = 'approval_decided' ORDER BY id",
        )
        .pluck()
        .all();
      expect(decided).toEqual([1, 0]);
      expect(
        db
          .prepare("SELECT count(*) FROM trace_events WHERE event_type = 'tool_execution_end'")
          .pluck()
          .get(),
      ).toBe(1);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
      const store = new Database(join(hitloopHome, 'approvals.db'), { readonly: true });
      expect(
        store.prepare('SELECT status FROM approvals ORDER BY created_at').pluck().all(),
      ).toEqual(['approved', 'rejected']);
      store.close();
      for (const file of [telemetry, join(hitloopHome, 'approvals.db')])
        expect((statSync(file).mode & 0o777).toString(8), file).toBe('600');

      // The bundled CLI reads it back with node:sqlite; better-sqlite3, forced,
      // cannot load from the VSIX at all.
      const cli = join(ext, 'dist', 'cli', 'main.js');
      const exported = spawnSync(
        NODE24!,
        [cli, 'telemetry', 'export', '--db', telemetry, '--format', 'csv'],
        {
          encoding: 'utf8',
          env: env(),
        },
      );
      expect(exported.stderr).toBe('');
      expect(exported.stdout.match(/approval_decided/g)).toHaveLength(2);
      const forced = spawnSync(
        NODE24!,
        [cli, 'telemetry', 'export', '--db', telemetry, '--format', 'csv'],
        {
          encoding: 'utf8',
          env: env({ HITLOOP_SQLITE_DRIVER: 'better-sqlite3' }),
        },
      );
      expect(forced.status).not.toBe(0);
      expect(forced.stderr).toContain(
        'HITLOOP_SQLITE_DRIVER=better-sqlite3, but better-sqlite3 does not load',
      );
    });

    it('as Route writes it into mcp.json: the fixed-path launcher, no node on PATH', async () => {
      // What the extension writes at activation, and what Route then writes.
      const launcher = writeStableLauncher(
        join(hitloopHome, 'bin'),
        join(ext, 'dist', 'cli', 'main.js'),
        { execPath: NODE24!, electron: false },
        { version: 'test' },
      );
      const mcpJson = join(project, '.vscode', 'mcp.json');
      writeFileSync(
        mcpJson,
        JSON.stringify({
          servers: { files: { type: 'stdio', command: NODE24!, args: [FILESYSTEM, project] } },
        }),
      );
      wrapFile(mcpJson, { launcher: { command: launcher, args: [] } });
      const entry = JSON.parse(readFileSync(mcpJson, 'utf8')).servers.files as {
        command: string;
        args: string[];
      };
      expect(entry.command).toBe(launcher);
      expect(entry.args.slice(0, 1)).toEqual(['proxy']);

      const { client } = await connect(entry.command, entry.args, {});
      try {
        const read = (await client.listTools()).tools
          .map((t) => t.name)
          .find((t) => t.endsWith('read_text_file'));
        expect(read).toBeDefined();
        const pending = client.callTool({
          name: read!,
          arguments: { path: join(project, 'notes.txt') },
        });
        await decide(true);
        expect(text((await pending) as CallToolResult)).toContain('hello from the project');

        // The launcher lives under HITLOOP_HOME, whose files the proxy refuses
        // to let a tool touch: an agent cannot rewrite it to skip the gate.
        const before = readFileSync(launcher, 'utf8');
        const write = (await client.listTools()).tools
          .map((t) => t.name)
          .find((t) => t.endsWith('write_file'));
        const denied = (await client.callTool({
          name: write!,
          arguments: { path: launcher, content: '#!/bin/sh\nexec "$@"\n' },
        })) as CallToolResult;
        expect(denied.isError).toBe(true);
        expect(text(denied)).toContain('hitloop_protected_path');
        expect(readFileSync(launcher, 'utf8')).toBe(before);
      } finally {
        await client.close();
      }
    });
  },
);
