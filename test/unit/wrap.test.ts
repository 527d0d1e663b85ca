// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config files use ${VAR} syntax, and these strings are config text
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromCommand } from '../../mcp-server/proxy/config/load.js';
import { listBackups, unwrapFile, wrapFile } from '../../mcp-server/wrap/files.js';
import {
  LAUNCHER_KINDS,
  type Launcher,
  launcherFor,
  parseWrapped,
  unwrapConfigText,
  wrapConfigText,
} from '../../mcp-server/wrap/wrap.js';
import { configError } from '../helpers/config-error.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const onPath = launcherFor('hitloop');
const root = makeTempDir('hitloop-wrap-');
let counter = 0;
const write = (text: string, name = 'mcp.json', mode = 0o644): string => {
  const dir = join(root, `w${counter++}`);
  mkdirSync(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
};
const read = (file: string) => readFileSync(file, 'utf8');

const claude = `{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "memory": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-memory"],
      "env": { "MEMORY_FILE_PATH": "/tmp/m.jsonl" }
    },
    "fs": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "autoApprove": [] }
  },
  "preferences": { "theme": "dark" }
}
`;

const vscode = `{
	// my servers
	"servers": {
		"github": {
			"type": "http",
			"url": "https://api.githubcopilot.com/mcp/",
			"headers": { "Authorization": "Bearer \${input:pat}" }
		},
		"legacy": { "type": "sse", "url": "http://127.0.0.1:9000/sse" },
		"local": { "type": "stdio", "command": "python3", "args": ["-m", "srv"], "cwd": "\${workspaceFolder}" }
	},
	"inputs": [{ "type": "promptString", "id": "pat", "password": true }]
}
`;

describe('wrapConfigText', () => {
  it('routes every stdio server through hitloop proxy and keeps the rest of the file', () => {
    const r = wrapConfigText(claude, 'c.json', { launcher: onPath });
    expect(r.changed).toBe(true);
    const json = JSON.parse(r.text);
    expect(json.mcpServers.memory).toEqual({
      command: 'hitloop',
      args: ['proxy', '--name', 'memory', '--', 'npx', '-y', '@modelcontextprotocol/server-memory'],
      env: { MEMORY_FILE_PATH: '/tmp/m.jsonl' },
    });
    expect(Object.keys(json.mcpServers.fs)).toEqual(['command', 'args', 'autoApprove']);
    expect(json.globalShortcut).toBe('Ctrl+Space');
    // Everything outside the server entries is byte-for-byte the same.
    expect(
      r.text.startsWith(
        '{\n  "globalShortcut": "Ctrl+Space",\n  "mcpServers": {\n    "memory": {\n      "command": "hitloop",\n      "args": [\n        "proxy",',
      ),
    ).toBe(true);
    expect(r.text.endsWith('  },\n  "preferences": { "theme": "dark" }\n}\n')).toBe(true);
    expect(r.changes.map((c) => [c.field, c.change])).toEqual([
      ['mcpServers.memory', 'wrapped'],
      ['mcpServers.fs', 'wrapped'],
    ]);
    expect(r.changes[1]!.detail).toBe(
      'wrapped (stdio: npx -y @modelcontextprotocol/server-filesystem /tmp)',
    );
  });

  it('passes --config and uses the launcher given', () => {
    const launcher: Launcher = {
      command: '/usr/bin/node',
      args: ['/opt/hitloop/dist/mcp-server/cli/main.js'],
    };
    const r = wrapConfigText(claude, 'c.json', { launcher, configFile: '/etc/hitloop.json' });
    const memory = JSON.parse(r.text).mcpServers.memory;
    expect(memory.command).toBe('/usr/bin/node');
    expect(memory.args.slice(0, 7)).toEqual([
      '/opt/hitloop/dist/mcp-server/cli/main.js',
      'proxy',
      '--name',
      'memory',
      '--config',
      '/etc/hitloop.json',
      '--',
    ]);
  });

  it('wraps http and sse servers, moving headers into the environment', () => {
    const r = wrapConfigText(vscode, 'mcp.json', { launcher: onPath });
    const servers = JSON.parse(r.text.replace(/^\s*\/\/.*$/m, '')).servers;
    expect(servers.github).toEqual({
      type: 'stdio',
      command: 'hitloop',
      args: ['proxy', '--name', 'github', '--upstream-url', 'https://api.githubcopilot.com/mcp/'],
      // VS Code resolves ${input:pat} in env values before starting the proxy.
      env: { HITLOOP_HEADER_1: 'Authorization: Bearer ${input:pat}' },
    });
    expect(servers.legacy.args.slice(-4)).toEqual([
      '--upstream-url',
      'http://127.0.0.1:9000/sse',
      '--upstream-type',
      'sse',
    ]);
    expect(servers.local.args).toEqual(['proxy', '--name', 'local', '--', 'python3', '-m', 'srv']);
    expect(servers.local.cwd).toBe('${workspaceFolder}');
    // The comment outside the entries survives; the file keeps its tabs.
    expect(r.text).toContain('\t// my servers\n');
    expect(r.text).toContain('\t\t"github": {\n\t\t\t"type": "stdio",');
    expect(r.droppedComments).toBe(false);
  });

  it('the wrapped arguments are what configFromCommand understands', () => {
    const r = wrapConfigText(vscode, 'mcp.json', { launcher: onPath });
    const servers = JSON.parse(r.text.replace(/^\s*\/\/.*$/m, '')).servers;
    for (const [name, entry] of Object.entries<Record<string, unknown>>(servers)) {
      const w = parseWrapped(entry)!;
      expect(w.name).toBe(name);
      const up = w.upstream!;
      const env = (entry.env ?? {}) as Record<string, string>;
      const config = configFromCommand(
        'command' in up
          ? { command: up.command, args: up.args, name: w.name! }
          : { url: up.url, type: up.type, headers: up.headers, name: w.name! },
        // As VS Code would start it: ${input:pat} resolved in the environment.
        { env: JSON.parse(JSON.stringify(env).replace('${input:pat}', 'secret')), homeDir: '/h' },
      );
      const spec = config.servers[0]!;
      if (name === 'github') {
        expect(spec).toMatchObject({
          type: 'http',
          url: 'https://api.githubcopilot.com/mcp/',
          headers: { Authorization: 'Bearer secret' },
        });
      }
      if (name === 'legacy')
        expect(spec).toMatchObject({ type: 'sse', url: 'http://127.0.0.1:9000/sse' });
      if (name === 'local')
        expect(spec).toMatchObject({ type: 'stdio', command: 'python3', args: ['-m', 'srv'] });
    }
  });

  it('is idempotent: wrapping twice changes nothing', () => {
    const once = wrapConfigText(vscode, 'mcp.json', { launcher: onPath });
    const twice = wrapConfigText(once.text, 'mcp.json', { launcher: onPath });
    expect(twice.changed).toBe(false);
    expect(twice.text).toBe(once.text);
    expect(twice.changes.every((c) => c.change === 'unchanged')).toBe(true);
    // Also across launchers: a server already behind hitloop is never wrapped again.
    const node = wrapConfigText(once.text, 'mcp.json', { launcher: launcherFor('node') });
    expect(node.changed).toBe(false);
  });

  it('recognises every launcher form as wrapped', () => {
    const forms = [
      { command: 'npx', args: ['-y', 'hitloop@0.1.0', 'proxy', '--', 'x'] },
      { command: 'hitloop', args: ['proxy', '--name', 'a', '--', 'x'] },
      { command: 'C:\\npm\\hitloop.cmd', args: ['proxy', '--', 'x'] },
      {
        command: '/usr/bin/node',
        args: ['/x/dist/mcp-server/cli/main.js', 'proxy', '--upstream-url', 'http://x'],
      },
      { command: 'npx', args: ['-y', 'hitloop', 'proxy', '--config', '/c.json'] },
      // What an installed hitloop (the package's bundled bin) writes as its own launcher.
      {
        command: '/usr/bin/node',
        args: ['/p/lib/node_modules/hitloop/dist/cli/main.js', 'proxy', '--name', 'fs', '--', 'x'],
      },
    ];
    for (const entry of forms) expect(parseWrapped(entry), JSON.stringify(entry)).toBeDefined();
    expect(
      parseWrapped({ command: 'npx', args: ['-y', 'other-proxy', 'proxy', '--', 'x'] }),
    ).toBeUndefined();
    expect(parseWrapped({ command: 'npx', args: ['proxy'] })).toBeUndefined();
  });

  it('undoes a wrap entry by entry', () => {
    for (const original of [claude, vscode]) {
      const wrapped = wrapConfigText(original, 'f.json', {
        launcher: onPath,
        configFile: '/c.json',
      }).text;
      const unwrapped = unwrapConfigText(wrapped, 'f.json');
      expect(unwrapped.changes.every((c) => c.change === 'unwrapped')).toBe(true);
      const strip = (t: string) => JSON.parse(t.replace(/^\s*\/\/.*$/m, ''));
      expect(strip(unwrapped.text)).toEqual(strip(original));
      expect(unwrapConfigText(unwrapped.text, 'f.json').changed).toBe(false);
    }
    // A proxy with its own config and no single upstream is left alone.
    const own =
      '{"mcpServers": {"hitloop": {"command": "npx", "args": ["-y", "hitloop", "proxy", "--config", "/c.json"]}}}';
    const r = unwrapConfigText(own, 'f.json');
    expect(r.changed).toBe(false);
    expect(r.changes[0]!.change).toBe('skipped');
  });

  it('sanitises names, skips what it cannot wrap, and warns about dropped comments', () => {
    const text = `{
  "mcpServers": {
    "my server": { "command": "srv" },
    "ws": { "type": "websocket", "url": "ws://x" },
    "nothing": { "disabled": true },
    "commented": {
      // why this server
      "command": "x"
    }
  }
}`;
    const r = wrapConfigText(text, 'f.json', { launcher: onPath });
    const json = JSON.parse(r.text.replace(/^\s*\/\/.*$/m, ''));
    expect(json.mcpServers['my server'].args).toContain('my-server');
    expect(r.changes.map((c) => c.change)).toEqual(['wrapped', 'skipped', 'skipped', 'wrapped']);
    expect(r.changes[0]!.detail).toContain('as "my-server"');
    expect(r.changes[1]!.detail).toContain('websocket');
    expect(r.droppedComments).toBe(true);
    expect(r.text).not.toContain('why this server');
  });

  it('refuses files that are not MCP configs', () => {
    expect(
      configError(() => wrapConfigText('[]', 'f.json', { launcher: onPath })).problem,
    ).toContain('JSON object');
    expect(
      configError(() => wrapConfigText('{"x": 1}', 'f.json', { launcher: onPath })).problem,
    ).toContain('mcpServers');
    const entry = configError(() =>
      wrapConfigText('{"servers": {"a": 1}}', 'f.json', { launcher: onPath }),
    );
    expect(entry.field).toBe('servers.a');
    const syntax = configError(() =>
      wrapConfigText('{"servers": {', 'f.json', { launcher: onPath }),
    );
    expect(syntax.problem).toMatch(/line 1, column 14/);
  });

  it('keeps CRLF line endings', () => {
    const crlf = claude.replace(/\n/g, '\r\n');
    const r = wrapConfigText(crlf, 'f.json', { launcher: onPath });
    expect(r.text.replace(/\r\n/g, '')).not.toContain('\n');
  });
});

describe('wrapFile and unwrapFile', () => {
  it('writes atomically, keeps the mode, and makes a 0600 backup', () => {
    const file = write(claude, 'claude_desktop_config.json', 0o640);
    const r = wrapFile(file, { launcher: onPath });
    expect(r.written).toBe(true);
    expect(r.backup).toBe(`${file}.hitloop-backup`);
    expect(read(r.backup!)).toBe(claude);
    expect(statSync(r.backup!).mode & 0o777).toBe(0o600);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(parseWrapped(JSON.parse(read(file)).mcpServers.memory)).toBeDefined();
    // No temporary files left behind.
    expect(readdirSync(join(file, '..')).sort()).toEqual(
      ['claude_desktop_config.json', 'claude_desktop_config.json.hitloop-backup'].sort(),
    );
  });

  it('is idempotent on disk: the second run writes nothing and makes no backup', () => {
    const file = write(claude);
    wrapFile(file, { launcher: onPath });
    const first = read(file);
    const again = wrapFile(file, { launcher: onPath });
    expect(again.written).toBe(false);
    expect(again.changed).toBe(false);
    expect(read(file)).toBe(first);
    expect(listBackups(file)).toHaveLength(1);
  });

  it('dry run writes nothing', () => {
    const file = write(claude);
    const r = wrapFile(file, { launcher: onPath, dryRun: true });
    expect(r.changed).toBe(true);
    expect(r.written).toBe(false);
    expect(read(file)).toBe(claude);
    expect(existsSync(`${file}.hitloop-backup`)).toBe(false);
  });

  it('undo restores the backup byte for byte (comments too) and removes it', () => {
    const file = write(vscode, 'mcp.json', 0o600);
    wrapFile(file, { launcher: onPath, configFile: '/etc/h.json' });
    expect(read(file)).not.toBe(vscode);
    const r = unwrapFile(file);
    expect(r.written).toBe(true);
    expect(r.restoredFrom).toEqual([`${file}.hitloop-backup`]);
    expect(read(file)).toBe(vscode);
    expect(existsSync(`${file}.hitloop-backup`)).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(unwrapFile(file).changed).toBe(false);
  });

  it('undo after later edits unwraps entry by entry and keeps the stale backup', () => {
    const file = write(claude);
    wrapFile(file, { launcher: onPath });
    const edited = JSON.parse(read(file));
    edited.mcpServers.memory.env.EXTRA = '1';
    writeFileSync(file, JSON.stringify(edited, null, 2));
    const r = unwrapFile(file);
    expect(r.restoredFrom).toEqual([]);
    expect(r.notes.join('\n')).toContain('was not used');
    const after = JSON.parse(read(file));
    expect(after.mcpServers.memory).toEqual({
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-memory'],
      env: { MEMORY_FILE_PATH: '/tmp/m.jsonl', EXTRA: '1' },
    });
    expect(existsSync(`${file}.hitloop-backup`)).toBe(true);
  });

  it('never overwrites a backup: a later wrap numbers its own, and undo walks back through both', () => {
    const file = write(claude);
    wrapFile(file, { launcher: onPath });
    // The user adds a server by hand, then wraps again.
    const added = read(file).replace(
      '"mcpServers": {',
      '"mcpServers": {\n    "extra": { "command": "extra-server" },',
    );
    writeFileSync(file, added);
    const second = wrapFile(file, { launcher: onPath });
    expect(second.backup).toBe(`${file}.hitloop-backup.1`);
    expect(read(`${file}.hitloop-backup`)).toBe(claude);
    expect(read(`${file}.hitloop-backup.1`)).toBe(added);
    const r = unwrapFile(file);
    // Back to the user's own edit of the original: the hand-added server, unwrapped.
    expect(r.restoredFrom).toEqual([`${file}.hitloop-backup.1`]);
    const after = JSON.parse(read(file));
    expect(Object.keys(after.mcpServers)).toEqual(['extra', 'memory', 'fs']);
    expect(after.mcpServers.extra).toEqual({ command: 'extra-server' });
    expect(after.mcpServers.memory.args).toEqual(['-y', '@modelcontextprotocol/server-memory']);
  });

  it('follows a symlink and edits the real file', () => {
    const real = write(claude, 'real.json');
    const link = join(root, `link${counter++}.json`);
    symlinkSync(real, link);
    const r = wrapFile(link, { launcher: onPath });
    expect(r.file).toBe(real);
    expect(parseWrapped(JSON.parse(read(real)).mcpServers.fs)).toBeDefined();
  });

  it('reports a missing file as a ConfigError', () => {
    const err = configError(() => wrapFile(join(root, 'missing.json'), { launcher: onPath }));
    expect(err.problem).toBe('file not found');
    expect(configError(() => unwrapFile(root)).problem).toContain('not a regular file');
  });
});

describe('launchers', () => {
  it('offers no npx launcher; the default pins this Node and this main.js by absolute paths', () => {
    expect([...LAUNCHER_KINDS]).toEqual(['node', 'hitloop']);
    const node = launcherFor('node');
    expect(node.command).toBe(realpathSync(process.execPath));
    expect(node.args).toHaveLength(1);
    expect(isAbsolute(node.args[0]!)).toBe(true);
    expect(node.args[0]).toMatch(/[\\/]mcp-server[\\/]cli[\\/]main\.js$/);
    expect(launcherFor('hitloop')).toEqual({ command: 'hitloop', args: [] });
  });

  it('moves entries older versions wrapped with npx -y hitloop to the launcher given; undo still restores the original', () => {
    const node: Launcher = {
      command: '/opt/node/bin/node',
      args: ['/opt/hitloop/dist/mcp-server/cli/main.js'],
    };
    // What hitloop 0.1 wrote (its formatting is this code's): the original
    // in the backup, npx in the file.
    const file = write(claude, 'claude_desktop_config.json');
    const old = wrapConfigText(claude, file, {
      launcher: { command: 'npx', args: ['-y', 'hitloop'] },
    }).text;
    expect(old).toContain('"-y",\n        "hitloop",\n        "proxy"');
    expect(old).not.toBe(claude);
    writeFileSync(`${file}.hitloop-backup`, claude);
    writeFileSync(file, old);

    const r = wrapFile(file, { launcher: node });
    expect(r.changes.map((c) => c.change)).toEqual(['relaunched', 'relaunched']);
    expect(r.changes[0]!.detail).toContain('npx -y hitloop');
    const json = JSON.parse(read(file));
    expect(json.mcpServers.memory.command).toBe(node.command);
    expect(json.mcpServers.memory.args).toEqual([
      node.args[0],
      'proxy',
      '--name',
      'memory',
      '--',
      'npx',
      '-y',
      '@modelcontextprotocol/server-memory',
    ]);
    expect(json.mcpServers.fs.args.slice(0, 2)).toEqual([node.args[0], 'proxy']);
    expect(wrapFile(file, { launcher: node }).changed).toBe(false);

    const undo = unwrapFile(file);
    expect(undo.restoredFrom).toEqual([`${file}.hitloop-backup.1`, `${file}.hitloop-backup`]);
    expect(read(file)).toBe(claude);
    // Without the backups, the old form is still unwrapped entry by entry.
    const plain = unwrapConfigText(old, 'c.json');
    expect(JSON.parse(plain.text)).toEqual(JSON.parse(claude));
  });
});

describe('Claude Code ~/.claude.json', () => {
  it("wraps the user servers and each project's own servers", () => {
    const text = `${JSON.stringify(
      {
        numStartups: 12,
        mcpServers: {
          memory: {
            type: 'stdio',
            command: 'npx',
            args: ['-y', '@modelcontextprotocol/server-memory'],
            env: {},
          },
        },
        projects: {
          '/home/me/app': {
            allowedTools: [],
            mcpServers: {
              db: { type: 'stdio', command: 'uvx', args: ['mcp-server-sqlite'], env: {} },
            },
          },
          '/home/me/other': { allowedTools: [], mcpServers: {} },
        },
      },
      null,
      2,
    )}\n`;
    const r = wrapConfigText(text, '.claude.json', { launcher: onPath });
    expect(r.changes.map((c) => [c.field, c.change])).toEqual([
      ['mcpServers.memory', 'wrapped'],
      ['projects["/home/me/app"].mcpServers.db', 'wrapped'],
    ]);
    const json = JSON.parse(r.text);
    expect(json.projects['/home/me/app'].mcpServers.db).toEqual({
      type: 'stdio',
      command: 'hitloop',
      args: ['proxy', '--name', 'db', '--', 'uvx', 'mcp-server-sqlite'],
      env: {},
    });
    expect(json.numStartups).toBe(12);
    expect(JSON.parse(unwrapConfigText(r.text, '.claude.json').text)).toEqual(JSON.parse(text));
  });
});

describe('Gemini CLI ~/.gemini/settings.json', () => {
  // As Gemini CLI writes it: stdio with cwd/timeout/trust, httpUrl (Streamable
  // HTTP) and a bare url, which Gemini reads as SSE.
  const gemini = `{
  "theme": "GitHub",
  "selectedAuthType": "gemini-api-key",
  "mcpServers": {
    "memory": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-memory"],
      "env": { "MEMORY_FILE_PATH": "$HOME/memory.jsonl" },
      "cwd": "./servers",
      "timeout": 30000,
      "trust": false,
      "includeTools": ["read_graph"]
    },
    "context7": {
      "httpUrl": "https://mcp.context7.com/mcp",
      "headers": { "CONTEXT7_API_KEY": "$CONTEXT7_API_KEY" },
      "timeout": 10000
    },
    "legacy": { "url": "http://127.0.0.1:9000/sse" }
  },
  "mcp": { "allowed": ["memory", "context7", "legacy"] }
}
`;

  it('wraps stdio, httpUrl and SSE url servers, and undoes them as Gemini reads them', () => {
    const dir = join(root, `g${counter++}`, '.gemini');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'settings.json');
    writeFileSync(file, gemini);
    const r = wrapFile(file, { launcher: onPath });
    expect(r.changes.map((c) => [c.field, c.change])).toEqual([
      ['mcpServers.memory', 'wrapped'],
      ['mcpServers.context7', 'wrapped'],
      ['mcpServers.legacy', 'wrapped'],
    ]);
    const json = JSON.parse(read(file));
    expect(json.mcpServers.memory).toEqual({
      command: 'hitloop',
      args: ['proxy', '--name', 'memory', '--', 'npx', '-y', '@modelcontextprotocol/server-memory'],
      env: { MEMORY_FILE_PATH: '$HOME/memory.jsonl' },
      cwd: './servers',
      timeout: 30000,
      trust: false,
      includeTools: ['read_graph'],
    });
    expect(json.mcpServers.context7).toEqual({
      command: 'hitloop',
      args: ['proxy', '--name', 'context7', '--upstream-url', 'https://mcp.context7.com/mcp'],
      // Gemini expands $VARS in env values before starting the proxy.
      env: { HITLOOP_HEADER_1: 'CONTEXT7_API_KEY: $CONTEXT7_API_KEY' },
      timeout: 10000,
    });
    expect(json.mcpServers.legacy.args).toEqual([
      'proxy',
      '--name',
      'legacy',
      '--upstream-url',
      'http://127.0.0.1:9000/sse',
      '--upstream-type',
      'sse',
    ]);
    expect(json.mcp).toEqual({ allowed: ['memory', 'context7', 'legacy'] });

    // Entry by entry, httpUrl and the bare SSE url come back as they were.
    const plain = unwrapConfigText(read(file), file);
    expect(JSON.parse(plain.text)).toEqual(JSON.parse(gemini));
    // From the backup, byte for byte.
    expect(unwrapFile(file).restoredFrom).toEqual([`${file}.hitloop-backup`]);
    expect(read(file)).toBe(gemini);
  });
});
