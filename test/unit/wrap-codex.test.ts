import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { unwrapTomlText, wrapTomlText } from '../../mcp-server/wrap/codex-toml.js';
import { configFormat, unwrapFile, wrapFile } from '../../mcp-server/wrap/files.js';
import { scanToml } from '../../mcp-server/wrap/toml-text.js';
import { type Launcher, parseWrapped } from '../../mcp-server/wrap/wrap.js';
import { configError } from '../helpers/config-error.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const launcher: Launcher = {
  command: '/usr/local/bin/node',
  args: ['/usr/local/lib/node_modules/hitloop/dist/mcp-server/cli/main.js'],
};
const MAIN = launcher.args[0]!;

const root = makeTempDir('hitloop-wrap-codex-');
let counter = 0;
const write = (text: string, name = 'config.toml'): string => {
  const dir = join(root, `c${counter++}`);
  mkdirSync(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const read = (file: string) => readFileSync(file, 'utf8');

/** A ~/.codex/config.toml as people have them: settings, comments, profiles, several servers. */
const codex = `# ~/.codex/config.toml
model = "gpt-5.1-codex"        # the default model
approval_policy = "on-request"

[features]
rmcp_client = true

# Knowledge graph memory; the file lives in /tmp
[mcp_servers.memory]
command = "npx"   # fetched from npm
args = ["-y", "@modelcontextprotocol/server-memory"]
env = { MEMORY_FILE_PATH = "/tmp/memory.jsonl" }
startup_timeout_sec = 20

[mcp_servers.docs]
command = 'docs-server'
args = [
  "--port", "4000",
]
env_vars = ["DOCS_TOKEN"]
cwd = "/srv/docs"
tool_timeout_sec = 30
enabled = true

[mcp_servers.figma]
url = "https://mcp.figma.com/mcp"
bearer_token_env_var = "FIGMA_TOKEN"

[profiles.fast]
model = "gpt-5.1-codex-mini"
`;

describe('wrapTomlText (Codex config.toml)', () => {
  it('routes each stdio server through hitloop proxy, editing only command, args and env_vars', () => {
    const r = wrapTomlText(codex, 'config.toml', { launcher });
    expect(r.changed).toBe(true);
    const servers = parse(r.text).mcp_servers as Record<string, Record<string, unknown>>;
    expect(servers.memory).toEqual({
      command: launcher.command,
      args: [
        MAIN,
        'proxy',
        '--name',
        'memory',
        '--',
        'npx',
        '-y',
        '@modelcontextprotocol/server-memory',
      ],
      env_vars: ['HITLOOP_HOME'],
      env: { MEMORY_FILE_PATH: '/tmp/memory.jsonl' },
      startup_timeout_sec: 20,
    });
    expect(servers.docs).toEqual({
      command: launcher.command,
      args: [MAIN, 'proxy', '--name', 'docs', '--', 'docs-server', '--port', '4000'],
      env_vars: ['DOCS_TOKEN', 'HITLOOP_HOME'],
      cwd: '/srv/docs',
      tool_timeout_sec: 30,
      enabled: true,
    });
    // Comments and the values around them stay as written.
    expect(r.text).toContain(`command = "${launcher.command}"   # fetched from npm\n`);
    expect(r.text).toContain(
      '# Knowledge graph memory; the file lives in /tmp\n[mcp_servers.memory]\n',
    );
    expect(
      r.text.startsWith(
        '# ~/.codex/config.toml\nmodel = "gpt-5.1-codex"        # the default model\n',
      ),
    ).toBe(true);
    expect(r.text).toContain(
      '[mcp_servers.figma]\nurl = "https://mcp.figma.com/mcp"\nbearer_token_env_var = "FIGMA_TOKEN"\n\n[profiles.fast]\n',
    );
    expect(r.changes.map((c) => [c.field, c.change])).toEqual([
      ['mcp_servers.memory', 'wrapped'],
      ['mcp_servers.docs', 'wrapped'],
      ['mcp_servers.figma', 'skipped'],
    ]);
    expect(r.changes[2]!.detail).toContain('bearer_token_env_var');
    expect(r.droppedComments).toBe(false);
  });

  it('is idempotent, and unwrapping entry by entry gives back each server', () => {
    const once = wrapTomlText(codex, 'config.toml', { launcher, configFile: '/h/hitloop.json' });
    const twice = wrapTomlText(once.text, 'config.toml', { launcher });
    expect(twice.changed).toBe(false);
    expect(twice.text).toBe(once.text);
    const un = unwrapTomlText(once.text, 'config.toml');
    expect(un.changes.map((c) => c.change)).toEqual(['unwrapped', 'unwrapped', 'unchanged']);
    expect(parse(un.text)).toEqual(parse(codex));
    expect(unwrapTomlText(un.text, 'config.toml').changed).toBe(false);
  });

  it('writes --config into every wrapped server and parses back with parseWrapped', () => {
    const r = wrapTomlText(codex, 'config.toml', { launcher, configFile: '/h/hitloop.json' });
    const servers = parse(r.text).mcp_servers as Record<string, Record<string, unknown>>;
    const w = parseWrapped(servers.memory!)!;
    expect(w.configFile).toBe('/h/hitloop.json');
    expect(w.upstream).toEqual({
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-memory'],
    });
  });

  it('handles inline tables, dotted keys, quoted names and a server without args', () => {
    const text = `[mcp_servers]
inline = { command = "srv", args = ["a"], env = { K = "v" } }
dotted.command = "dot-server"
"odd name" = { command = "python3" }

[mcp_servers.bare]
command = "bare-server"
`;
    const r = wrapTomlText(text, 'config.toml', { launcher: { command: 'hitloop', args: [] } });
    const servers = parse(r.text).mcp_servers as Record<string, Record<string, unknown>>;
    expect(servers.inline).toEqual({
      command: 'hitloop',
      args: ['proxy', '--name', 'inline', '--', 'srv', 'a'],
      env: { K: 'v' },
      env_vars: ['HITLOOP_HOME'],
    });
    expect(servers.dotted).toEqual({
      command: 'hitloop',
      args: ['proxy', '--name', 'dotted', '--', 'dot-server'],
      env_vars: ['HITLOOP_HOME'],
    });
    expect(servers['odd name']!.args).toEqual(['proxy', '--name', 'odd-name', '--', 'python3']);
    expect(servers.bare!.args).toEqual(['proxy', '--name', 'bare', '--', 'bare-server']);
    expect(r.text).toContain('dotted.command = "hitloop"\ndotted.args = [');
    expect(r.changes[2]!.field).toBe('mcp_servers."odd name"');
    // Undo puts back exactly what was there: no args key where there was none.
    expect(unwrapTomlText(r.text, 'config.toml').text).toBe(text);
  });

  it('wraps a plain remote server and restores its url; keeps CRLF line endings', () => {
    const text = '[mcp_servers.remote]\r\nurl = "http://127.0.0.1:9/mcp"\r\nenabled = true\r\n';
    const r = wrapTomlText(text, 'config.toml', { launcher });
    expect(r.text.replace(/\r\n/g, '')).not.toContain('\n');
    const remote = (parse(r.text).mcp_servers as Record<string, Record<string, unknown>>).remote!;
    expect(remote).toEqual({
      command: launcher.command,
      args: [MAIN, 'proxy', '--name', 'remote', '--upstream-url', 'http://127.0.0.1:9/mcp'],
      env_vars: ['HITLOOP_HOME'],
      enabled: true,
    });
    expect(r.changes[0]!.detail).toBe('wrapped (http: http://127.0.0.1:9/mcp)');
    expect(unwrapTomlText(r.text, 'config.toml').text).toBe(text);
  });

  it('moves servers wrapped by older versions (npx -y hitloop) to the launcher given', () => {
    const old = `[mcp_servers.memory]
command = "npx"
args = ["-y", "hitloop", "proxy", "--name", "memory", "--", "npx", "-y", "@modelcontextprotocol/server-memory"]
`;
    const r = wrapTomlText(old, 'config.toml', { launcher });
    expect(r.changes[0]!.change).toBe('relaunched');
    const memory = (parse(r.text).mcp_servers as Record<string, Record<string, unknown>>).memory!;
    expect(memory.command).toBe(launcher.command);
    expect(memory.args).toEqual([
      MAIN,
      'proxy',
      '--name',
      'memory',
      '--',
      'npx',
      '-y',
      '@modelcontextprotocol/server-memory',
    ]);
    // And the old form can still be undone.
    const un = unwrapTomlText(old, 'config.toml');
    expect(un.text).toBe(
      '[mcp_servers.memory]\ncommand = "npx"\nargs = ["-y", "@modelcontextprotocol/server-memory"]\n',
    );
  });

  it('reports TOML syntax errors and files without servers, naming the supported formats', () => {
    const syntax = configError(() =>
      wrapTomlText('[mcp_servers.a]\ncommand = \n', 'config.toml', { launcher }),
    );
    expect(syntax.problem).toMatch(/^not valid TOML at line 2, column \d+/);
    const none = configError(() => wrapTomlText('model = "o3"\n', 'config.toml', { launcher }));
    expect(none.problem).toContain('[mcp_servers]');
    expect(none.fix).toContain('Codex ~/.codex/config.toml');
    expect(none.fix).toContain('Claude Code');
  });
});

describe('wrapFile and unwrapFile on config.toml', () => {
  it('backs up, restores byte for byte, and removes the backup', () => {
    const file = write(codex);
    const r = wrapFile(file, { launcher });
    expect(r.written).toBe(true);
    expect(read(`${file}.hitloop-backup`)).toBe(codex);
    const wrapped = read(file);
    expect(wrapFile(file, { launcher }).written).toBe(false);
    expect(read(file)).toBe(wrapped);
    const undo = unwrapFile(file);
    expect(undo.restoredFrom).toEqual([`${file}.hitloop-backup`]);
    expect(read(file)).toBe(codex);
    expect(existsSync(`${file}.hitloop-backup`)).toBe(false);
  });

  it('dry run writes nothing', () => {
    const file = write(codex);
    expect(wrapFile(file, { launcher, dryRun: true }).changed).toBe(true);
    expect(read(file)).toBe(codex);
    expect(existsSync(`${file}.hitloop-backup`)).toBe(false);
  });

  it('undo after a later edit unwraps in place and keeps the edit', () => {
    const file = write(codex);
    wrapFile(file, { launcher });
    writeFileSync(file, read(file).replace('tool_timeout_sec = 30', 'tool_timeout_sec = 90'));
    const r = unwrapFile(file);
    expect(r.restoredFrom).toEqual([]);
    expect(read(file)).toBe(
      codex
        .replace('tool_timeout_sec = 30', 'tool_timeout_sec = 90')
        .replace('args = [\n  "--port", "4000",\n]', 'args = ["--port", "4000"]')
        // Rewritten values are written as basic strings.
        .replace("command = 'docs-server'", 'command = "docs-server"'),
    );
  });
});

describe('configFormat', () => {
  it('goes by the extension, then by the content, and refuses what it cannot edit', () => {
    expect(configFormat('/h/.codex/config.toml', '')).toBe('toml');
    expect(configFormat('/h/.gemini/settings.json', '')).toBe('json');
    expect(configFormat('/h/servers', '// note\n{"mcpServers": {}}')).toBe('json');
    expect(configFormat('/h/servers', '[mcp_servers.a]\ncommand = "x"\n')).toBe('toml');
    const yaml = configError(() => configFormat('/h/.continue/config.yaml', 'mcpServers: []'));
    expect(yaml.file).toBe('/h/.continue/config.yaml');
    expect(yaml.problem).toContain('YAML');
    expect(yaml.fix).toContain('TOML with [mcp_servers.NAME]');
    expect(configError(() => configFormat('/h/x', 'mcpServers:\n  - a\n')).problem).toContain(
      'neither JSON nor TOML',
    );
  });
});

describe('scanToml', () => {
  it('finds values past strings, comments and dates that look like syntax', () => {
    const text = `a = """x ] # not a comment
"quoted" [""" # c
b = '''it's'''
c = 1979-05-27 07:32:00Z
[t."x.y"]
'k' = ["[", "#", { z = 1 }] # trailing
`;
    const kvs = scanToml(text);
    const at = (path: string[]) => kvs.find((k) => k.path.join('/') === path.join('/'))!;
    expect(text.slice(at(['c']).valueStart, at(['c']).valueEnd)).toBe('1979-05-27 07:32:00Z');
    const k = at(['t', 'x.y', 'k']);
    expect(text.slice(k.valueStart, k.valueEnd)).toBe('["[", "#", { z = 1 }]');
    expect(k.elements).toHaveLength(3);
    expect(at(['t', 'x.y', 'k', '#2', 'z']).inline).toBe(true);
    expect(text.slice(at(['b']).valueStart, at(['b']).valueEnd)).toBe("'''it's'''");
  });
});
