import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { CLI, runHitloop } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const EVERYTHING = fileURLToPath(
  new URL(
    '../../node_modules/@modelcontextprotocol/server-everything/dist/index.js',
    import.meta.url,
  ),
);

const newDir = () => makeTempDir('hitloop-cli-wrap-');
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

/** A Claude Desktop config with one real server (this Node runs it, nothing is downloaded). */
function claudeConfig(dir: string): { file: string; text: string } {
  const text = `${JSON.stringify(
    {
      mcpServers: {
        everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] },
        remote: { type: 'http', url: 'http://127.0.0.1:9/mcp', headers: { 'X-Key': 'k' } },
      },
      preferences: { keep: true },
    },
    null,
    2,
  )}\n`;
  const file = join(dir, 'claude_desktop_config.json');
  writeFileSync(file, text, { mode: 0o640 });
  return { file, text };
}

describe('hitloop wrap', () => {
  it('wraps, is idempotent, and undoes, printing one line per server', () => {
    const dir = newDir();
    const { file, text } = claudeConfig(dir);

    const dry = runHitloop(['wrap', file, '--launcher', 'node', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('mcpServers.everything: wrapped (stdio: ');
    expect(dry.stdout).toContain('dry run');
    expect(readFileSync(file, 'utf8')).toBe(text);

    const wrap = runHitloop(['wrap', file, '--launcher', 'node']);
    expect(wrap.code, wrap.stderr).toBe(0);
    expect(wrap.stdout).toContain('mcpServers.everything: wrapped (stdio: ');
    expect(wrap.stdout).toContain(
      'mcpServers.remote: wrapped (http: http://127.0.0.1:9/mcp, 1 header(s) passed in env HITLOOP_HEADER_n)',
    );
    expect(wrap.stdout).toContain(`backup: ${file}.hitloop-backup`);
    const wrapped = readFileSync(file, 'utf8');
    const json = JSON.parse(wrapped);
    expect(json.mcpServers.everything).toEqual({
      command: process.execPath,
      args: [CLI, 'proxy', '--name', 'everything', '--', process.execPath, EVERYTHING, 'stdio'],
    });
    expect(json.preferences).toEqual({ keep: true });
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(statSync(`${file}.hitloop-backup`).mode & 0o777).toBe(0o600);

    const again = runHitloop(['wrap', file, '--launcher', 'node']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to do');
    expect(readFileSync(file, 'utf8')).toBe(wrapped);

    const undo = runHitloop(['wrap', file, '--undo']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain('mcpServers.everything: unwrapped');
    expect(undo.stdout).toContain(`restored from ${file}.hitloop-backup`);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(existsSync(`${file}.hitloop-backup`)).toBe(false);

    const undoAgain = runHitloop(['wrap', file, '--undo']);
    expect(undoAgain.code).toBe(0);
    expect(undoAgain.stdout).toContain('nothing to undo');
  });

  it('passes an absolute --config after checking it', () => {
    const dir = newDir();
    const { file } = claudeConfig(dir);
    writeFileSync(
      join(dir, 'hitloop.json'),
      JSON.stringify({ approval: { backend: 'auto-approve' } }),
    );
    // A relative --config, from the folder it is in.
    const r = spawnSync(
      process.execPath,
      [CLI, 'wrap', file, '--launcher', 'node', '--config', 'hitloop.json'],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const args = JSON.parse(readFileSync(file, 'utf8')).mcpServers.everything.args as string[];
    expect(args.slice(1, 6)).toEqual([
      'proxy',
      '--name',
      'everything',
      '--config',
      join(dir, 'hitloop.json'),
    ]);

    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ approval: { backend: 'slack' } }));
    const bad = runHitloop(['wrap', file, '--config', join(dir, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('approval.backend');
    noStack(bad.stderr);
  });

  it('exits 2 with a clear message on bad input', () => {
    const dir = newDir();
    const missing = runHitloop(['wrap', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('file not found');
    noStack(missing.stderr);

    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{\n  "mcpServers": {\n    "a": { "command": "x" },,\n  }\n}\n');
    const syntax = runHitloop(['wrap', broken]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain('line 3, column 29: an extra comma');
    noStack(syntax.stderr);

    const other = join(dir, 'package.json');
    writeFileSync(other, '{"name": "x"}');
    const notMcp = runHitloop(['wrap', other]);
    expect(notMcp.code).toBe(2);
    expect(notMcp.stderr).toContain('mcpServers');

    const launcher = runHitloop(['wrap', other, '--launcher', 'bunx']);
    expect(launcher.code).toBe(2);
    expect(launcher.stderr).toContain('bunx');
    expect(runHitloop(['wrap']).code).toBe(2);
  });

  it('warns when comments inside rewritten entries are dropped', () => {
    const dir = newDir();
    const file = join(dir, 'mcp.json');
    writeFileSync(
      file,
      '{\n  "servers": {\n    "a": {\n      // note\n      "command": "x"\n    }\n  }\n}\n',
    );
    const r = runHitloop(['wrap', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('comments inside the rewritten server entries are not kept');
    // The default launcher: this Node and this CLI, by absolute paths.
    const a = JSON.parse(readFileSync(file, 'utf8')).servers.a;
    expect(a.command).toBe(realpathSync(process.execPath));
    expect(a.args.slice(0, 2)).toEqual([realpathSync(CLI), 'proxy']);
  });
});

/** A ~/.codex/config.toml with comments, settings, profiles, a real server and a remote one. */
function codexConfig(dir: string): { file: string; text: string } {
  const text = `# Codex settings
model = "gpt-5.1-codex"   # default model

# A real server: this Node runs it, nothing is downloaded.
[mcp_servers.everything]
command = ${JSON.stringify(process.execPath)}
args = [${JSON.stringify(EVERYTHING)}, "stdio"]   # stdio transport
env = { EVERYTHING_MODE = "test" }
startup_timeout_sec = 30

[mcp_servers.figma]
url = "https://mcp.figma.com/mcp"
bearer_token_env_var = "FIGMA_TOKEN"

[profiles.fast]
model = "gpt-5.1-codex-mini"
`;
  mkdirSync(join(dir, '.codex'));
  const file = join(dir, '.codex', 'config.toml');
  writeFileSync(file, text, { mode: 0o600 });
  return { file, text };
}

describe('hitloop wrap on Codex config.toml', () => {
  it('wraps with the installed hitloop, keeps comments, is idempotent, and undoes byte for byte', () => {
    const dir = newDir();
    const { file, text } = codexConfig(dir);

    const wrap = runHitloop(['wrap', file]);
    expect(wrap.code, wrap.stderr).toBe(0);
    expect(wrap.stdout).toContain('mcp_servers.everything: wrapped (stdio: ');
    expect(wrap.stdout).toContain('mcp_servers.figma: not wrapped: bearer_token_env_var');
    const wrapped = readFileSync(file, 'utf8');
    const servers = parse(wrapped).mcp_servers as Record<string, Record<string, unknown>>;
    expect(servers.everything).toEqual({
      command: realpathSync(process.execPath),
      args: [
        realpathSync(CLI),
        'proxy',
        '--name',
        'everything',
        '--',
        process.execPath,
        EVERYTHING,
        'stdio',
      ],
      env_vars: ['HITLOOP_HOME'],
      env: { EVERYTHING_MODE: 'test' },
      startup_timeout_sec: 30,
    });
    expect(wrapped).toContain('# A real server: this Node runs it, nothing is downloaded.\n');
    expect(wrapped).toContain('model = "gpt-5.1-codex"   # default model\n');
    expect(wrapped).toContain('[profiles.fast]\nmodel = "gpt-5.1-codex-mini"\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const again = runHitloop(['wrap', file]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to do');
    expect(readFileSync(file, 'utf8')).toBe(wrapped);

    const undo = runHitloop(['wrap', file, '--undo']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain(`restored from ${file}.hitloop-backup`);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(existsSync(`${file}.hitloop-backup`)).toBe(false);
  });

  it('the wrapped Codex server starts a working proxy', async () => {
    const dir = newDir();
    const { file } = codexConfig(dir);
    expect(runHitloop(['wrap', file]).code).toBe(0);
    const servers = parse(readFileSync(file, 'utf8')).mcp_servers as Record<
      string,
      { command: string; args: string[] }
    >;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    const client = new Client({ name: 'wrap-codex-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: servers.everything!.command,
        args: servers.everything!.args,
        env: { ...env, HITLOOP_HOME: newDir() },
        stderr: 'pipe',
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
    } finally {
      await client.close();
    }
  });
});

describe('hitloop wrap launchers and --config', () => {
  it('by default writes the real paths of this Node and main.js, even when run through a bin symlink', () => {
    const dir = newDir();
    const { file } = claudeConfig(dir);
    // As a global npm install has it: bin/hitloop -> lib/node_modules/hitloop/dist/mcp-server/cli/main.js
    mkdirSync(join(dir, 'bin'));
    const link = join(dir, 'bin', 'hitloop');
    symlinkSync(CLI, link);
    const r = spawnSync(process.execPath, [link, 'wrap', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const entry = JSON.parse(readFileSync(file, 'utf8')).mcpServers.everything;
    expect(entry.command).toBe(realpathSync(process.execPath));
    expect(entry.args[0]).toBe(realpathSync(CLI));
    expect(JSON.stringify(entry)).not.toContain('npx');
  });

  it('--launcher hitloop writes the bare command; npx is refused with the reason', () => {
    const dir = newDir();
    const { file, text } = claudeConfig(dir);
    const npx = runHitloop(['wrap', file, '--launcher', 'npx']);
    expect(npx.code).toBe(2);
    expect(npx.stderr).toContain('not on the npm registry');
    expect(readFileSync(file, 'utf8')).toBe(text);
    const r = runHitloop(['wrap', file, '--launcher', 'hitloop']);
    expect(r.code, r.stderr).toBe(0);
    const entry = JSON.parse(readFileSync(file, 'utf8')).mcpServers.everything;
    expect(entry.command).toBe('hitloop');
    expect(entry.args.slice(0, 3)).toEqual(['proxy', '--name', 'everything']);
  });

  it('a missing --config fails at wrap time, naming the flag, the file and the fix', () => {
    const dir = newDir();
    const { file, text } = claudeConfig(dir);
    const missing = join(dir, 'nope', 'config.json');
    const r = runHitloop(['wrap', file, '--config', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--config ${missing}: file not found`);
    expect(r.stderr).toContain('drop --config');
    noStack(r.stderr);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(existsSync(`${file}.hitloop-backup`)).toBe(false);
  });

  it('--config=~/... is made absolute against the home folder', () => {
    const dir = newDir();
    const { file } = claudeConfig(dir);
    mkdirSync(join(dir, '.hitloop'));
    writeFileSync(join(dir, '.hitloop', 'config.json'), '{"approval": {"backend": "hub"}}');
    const r = runHitloop(['wrap', file, '--config=~/.hitloop/config.json'], {
      env: { HOME: dir },
    });
    expect(r.code, r.stderr).toBe(0);
    const args = JSON.parse(readFileSync(file, 'utf8')).mcpServers.everything.args as string[];
    expect(args[args.indexOf('--config') + 1]).toBe(join(dir, '.hitloop', 'config.json'));
  });

  it('refuses a format it cannot edit, naming the file and the supported formats', () => {
    const dir = newDir();
    const yaml = join(dir, 'config.yaml');
    writeFileSync(yaml, 'mcpServers:\n  - name: memory\n');
    const r = runHitloop(['wrap', yaml]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${yaml}: a YAML file`);
    expect(r.stderr).toContain('Codex ~/.codex/config.toml');
    expect(r.stderr).toContain('Gemini CLI');
    noStack(r.stderr);
  });
});

// The contract with `hitloop proxy`: what wrap writes must start a working proxy.
describe('a wrapped server runs through hitloop proxy', () => {
  async function connect(entry: { command: string; args: string[]; env?: Record<string, string> }) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    const client = new Client({ name: 'wrap-test', version: '1.0.0' });
    const transport = new StdioClientTransport({
      command: entry.command,
      args: entry.args,
      env: { ...env, HITLOOP_HOME: newDir(), ...entry.env },
      stderr: 'pipe',
    });
    await client.connect(transport);
    return client;
  }

  it('lists the upstream tools under their own names', async () => {
    const dir = newDir();
    const { file } = claudeConfig(dir);
    expect(runHitloop(['wrap', file, '--launcher', 'node']).code).toBe(0);
    const entry = JSON.parse(readFileSync(file, 'utf8')).mcpServers.everything;
    const client = await connect(entry);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
    } finally {
      await client.close();
    }
  });

  it('applies the --config given to wrap', async () => {
    const dir = newDir();
    const { file } = claudeConfig(dir);
    const settings = join(dir, 'hitloop.json');
    writeFileSync(
      settings,
      JSON.stringify({
        policy: { type: 'rules', default: 'ask' },
        approval: { backend: 'auto-reject' },
        telemetry: { db: false },
      }),
    );
    expect(runHitloop(['wrap', file, '--launcher', 'node', '--config', settings]).code).toBe(0);
    const entry = JSON.parse(readFileSync(file, 'utf8')).mcpServers.everything;
    const client = await connect(entry);
    try {
      const result = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toContain('NOT executed');
    } finally {
      await client.close();
    }
  });
});
