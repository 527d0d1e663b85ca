import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type GatedCopy,
  gatedCopies,
  type McpJsonSource,
  ungatedNotice,
  userMcpJson,
} from '../../extension/src/mcp-json-servers.js';
import type { LaunchCommand } from '../../mcp-server/wrap/embedded.js';
import { wrapFile } from '../../mcp-server/wrap/files.js';
import { discoverHubs, HubClient } from '../../shared/hub/index.js';

/** Polls `check` until it gives a value (or fails after `ms`). */
async function until<T>(check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`nothing after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text of a VS Code variable
const WORKSPACE_FOLDER = '${workspaceFolder}';
/** `${name}` as VS Code writes its variables in mcp.json (kept as text). */
const v = (name: string) => `$\{${name}}`;
const root = join(import.meta.dirname, '..', '..');
const CLI = join(root, 'dist', 'cli', 'main.js');
const FILESYSTEM = join(root, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const launch: LaunchCommand = {
  command: '/opt/vscode/node',
  args: ['/ext/dist/cli/main.js'],
  env: {},
};
const vars = { userHome: '/home/me', env: { TOKEN_FROM_ENV: 'abc' } };

let dir: string;
let folder: string;
let workspaceFile: string;
let userFile: string;
let sources: McpJsonSource[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hitloop-mcpjson-'));
  folder = join(dir, 'project');
  mkdirSync(join(folder, '.vscode'), { recursive: true });
  mkdirSync(join(dir, 'User'), { recursive: true });
  workspaceFile = join(folder, '.vscode', 'mcp.json');
  userFile = join(dir, 'User', 'mcp.json');
  sources = [
    { file: workspaceFile, origin: 'project', folder },
    { file: userFile, origin: 'user', folder },
  ];
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const byServer = (copies: GatedCopy[], server: string) => {
  const found = copies.find((c) => c.server === server);
  if (!found) throw new Error(`no copy of ${server}: ${JSON.stringify(copies)}`);
  return found;
};

describe("where the user's mcp.json is", () => {
  it('is next to globalStorage in the profile folder (desktop, code-server, a profile)', () => {
    expect(userMcpJson('/home/me/.config/Code/User/globalStorage/hitloop.hitloop')).toBe(
      '/home/me/.config/Code/User/mcp.json',
    );
    expect(userMcpJson('/tmp/ud/User/globalStorage/hitloop.hitloop')).toBe('/tmp/ud/User/mcp.json');
    expect(
      userMcpJson('/home/me/.config/Code/User/profiles/-5a1b/globalStorage/hitloop.hitloop'),
    ).toBe('/home/me/.config/Code/User/profiles/-5a1b/mcp.json');
  });
});

describe('gated copies of the servers in mcp.json', () => {
  it('offers each unrouted stdio and http server, started as Route would write it, with variables filled in', () => {
    writeFileSync(
      workspaceFile,
      `{
  // the project's servers
  "servers": {
    "files": { "type": "stdio", "command": "npx", "args": ["-y", "server-filesystem", "${WORKSPACE_FOLDER}"], "env": { "LOG": "1" } },
    "remote": { "type": "http", "url": "https://mcp.example/mcp", "headers": { "Authorization": "Bearer x" } }
  },
}
`,
    );
    const before = readFileSync(workspaceFile, 'utf8');
    const { copies, problems, skipped, routed } = gatedCopies(sources, launch, vars);
    expect(problems).toEqual([]);
    expect(skipped).toEqual([]);
    expect(routed).toEqual([]);
    const files = byServer(copies, 'files');
    expect(files).toMatchObject({
      label: 'files (via hitloop)',
      origin: 'project',
      command: '/opt/vscode/node',
      args: [
        '/ext/dist/cli/main.js',
        'proxy',
        '--name',
        'files',
        '--',
        'npx',
        '-y',
        'server-filesystem',
        folder,
      ],
      cwd: folder,
      env: { LOG: '1' },
    });
    const remote = byServer(copies, 'remote');
    expect(remote.args).toEqual([
      '/ext/dist/cli/main.js',
      'proxy',
      '--name',
      'remote',
      '--upstream-url',
      'https://mcp.example/mcp',
    ]);
    // The header stays out of the process list.
    expect(remote.env).toEqual({ HITLOOP_HEADER_1: 'Authorization: Bearer x' });
    // Reading never writes.
    expect(readFileSync(workspaceFile, 'utf8')).toBe(before);
  });

  it('skips the servers that already go through hitloop, so routing leaves no duplicates', () => {
    writeFileSync(
      workspaceFile,
      JSON.stringify({
        servers: {
          files: { command: 'npx', args: ['-y', 'server-filesystem', '.'] },
          memory: { command: 'npx', args: ['-y', 'server-memory'] },
        },
      }),
    );
    expect(
      gatedCopies(sources, launch, vars)
        .copies.map((c) => c.server)
        .sort(),
    ).toEqual(['files', 'memory']);
    wrapFile(workspaceFile, { launcher: { command: '/home/me/.hitloop/bin/hitloop', args: [] } });
    const after = gatedCopies(sources, launch, vars);
    expect(after.copies).toEqual([]);
    expect(after.routed.map((r) => r.server).sort()).toEqual(['files', 'memory']);
  });

  it('reads the user mcp.json too, and tells same-named servers apart by where they come from', () => {
    writeFileSync(workspaceFile, JSON.stringify({ servers: { files: { command: 'a' } } }));
    writeFileSync(
      userFile,
      JSON.stringify({
        inputs: [],
        servers: { files: { command: 'b' }, git: { command: 'uvx', args: ['mcp-server-git'] } },
      }),
    );
    const { copies } = gatedCopies(sources, launch, vars);
    expect(copies.map((c) => c.label).sort()).toEqual([
      'files (project, via hitloop)',
      'files (user, via hitloop)',
      'git (via hitloop)',
    ]);
    expect(new Set(copies.map((c) => c.label)).size).toBe(copies.length);
  });

  it('an mcp.json that does not parse: a clear problem naming the file, no copies, the file untouched', () => {
    const broken = '{ "servers": { "files": { "command": "npx" ';
    writeFileSync(workspaceFile, broken);
    writeFileSync(userFile, JSON.stringify({ servers: { git: { command: 'uvx' } } }));
    const { copies, problems } = gatedCopies(sources, launch, vars);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(workspaceFile);
    expect(problems[0]).toMatch(/line \d+/);
    expect(problems[0]).toMatch(/not offered through hitloop until it parses/);
    // The other file still counts.
    expect(copies.map((c) => c.server)).toEqual(['git']);
    expect(readFileSync(workspaceFile, 'utf8')).toBe(broken);
  });

  it('leaves out what only VS Code can fill in (input variables, envFile), saying why, and nothing for an empty user file', () => {
    writeFileSync(
      workspaceFile,
      JSON.stringify({
        inputs: [{ id: 'key', type: 'promptString', description: 'API key' }],
        servers: {
          asks: { command: 'srv', env: { KEY: v('input:key') } },
          envfile: { command: 'srv', envFile: `${WORKSPACE_FOLDER}/.env` },
          fromEnv: { command: 'srv', args: [v('env:TOKEN_FROM_ENV'), `${v('userHome')}/x`] },
        },
      }),
    );
    writeFileSync(userFile, '{}');
    const { copies, skipped, problems } = gatedCopies(sources, launch, vars);
    expect(problems).toEqual([]);
    expect(copies.map((c) => c.server)).toEqual(['fromEnv']);
    expect(byServer(copies, 'fromEnv').args.slice(-2)).toEqual(['abc', '/home/me/x']);
    expect(skipped).toHaveLength(2);
    expect(skipped.find((s) => s.startsWith('asks'))).toMatch(/\$\{input:key\}.*route it/);
    expect(skipped.find((s) => s.startsWith('envfile'))).toMatch(/envFile.*route it/);
  });

  it('the notice names each set of servers once, and a new server makes a new set', () => {
    writeFileSync(workspaceFile, JSON.stringify({ servers: { files: { command: 'a' } } }));
    const one = ungatedNotice(gatedCopies(sources, launch, vars).copies);
    expect(one.servers).toEqual(['files']);
    expect(one.files).toEqual([workspaceFile]);
    expect(ungatedNotice(gatedCopies(sources, launch, vars).copies).key).toBe(one.key);
    writeFileSync(
      workspaceFile,
      JSON.stringify({ servers: { files: { command: 'a' }, memory: { command: 'b' } } }),
    );
    const two = ungatedNotice(gatedCopies(sources, launch, vars).copies);
    expect(two.key).not.toBe(one.key);
    expect(ungatedNotice([]).servers).toEqual([]);
  });
});

describe('a gated copy runs', () => {
  it("the real filesystem server behind the built proxy, through the MCP SDK's client, with the server's own name", async () => {
    expect(existsSync(CLI), `${CLI}: run npm run build first`).toBe(true);
    writeFileSync(
      workspaceFile,
      JSON.stringify({
        servers: {
          files: { command: process.execPath, args: [FILESYSTEM, WORKSPACE_FOLDER] },
        },
      }),
    );
    const home = join(dir, 'hitloop-home');
    const { copies } = gatedCopies(
      sources,
      { command: process.execPath, args: [CLI], env: {} },
      vars,
    );
    const copy = byServer(copies, 'files');
    const client = new Client({ name: 'test', version: '0' });
    const transport = new StdioClientTransport({
      command: copy.command,
      args: copy.args,
      ...(copy.cwd ? { cwd: copy.cwd } : {}),
      env: { PATH: process.env.PATH ?? '', HOME: dir, HITLOOP_HOME: home, ...copy.env },
      stderr: 'ignore',
    });
    await client.connect(transport);
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toContain('write_file');
      // The proxy in front of one server reports that server's name, so VS
      // Code names the copy's tools as it named the original's.
      expect(client.getServerVersion()?.name).toBe('secure-filesystem-server');
      // A call through the copy is gated: it waits on the proxy's hub until decided.
      const target = join(folder, 'gated.txt');
      const call = client.callTool({
        name: 'write_file',
        arguments: { path: target, content: 'approved' },
      });
      const pending = await until(async () => {
        for (const hub of discoverHubs(home)) {
          const [first] = await new HubClient(hub).listPending();
          if (first) return { hub, approval: first };
        }
        return undefined;
      });
      expect(pending.approval).toMatchObject({ server: 'files', tool: 'write_file' });
      expect(existsSync(target)).toBe(false);
      await new HubClient(pending.hub).decide(pending.approval.id, {
        approve: true,
        argsHash: pending.approval.argsHash,
      });
      expect((await call).isError).toBeFalsy();
      expect(readFileSync(target, 'utf8')).toBe('approved');
    } finally {
      await client.close();
    }
  }, 60_000);
});
