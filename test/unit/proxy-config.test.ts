// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config files use ${VAR} syntax, and these strings are config text
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../mcp-server/proxy/config/expand.js';
import { buildConfigJsonSchema } from '../../mcp-server/proxy/config/json-schema.js';
import { parseJsonc } from '../../mcp-server/proxy/config/jsonc.js';
import {
  configFromCommand,
  defaultHitloopHome,
  deriveServerName,
  deriveServerNameFromUrl,
  type LoadOptions,
  loadProxyConfig,
  loadProxySettings,
  parseHeaderFlag,
  sanitizeServerName,
} from '../../mcp-server/proxy/config/load.js';
import { createAction } from '../../shared/models/action.js';
import { configError } from '../helpers/config-error.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const root = makeTempDir('hitloop-config-');
let counter = 0;
/** Writes a config file in a fresh folder and returns its path. */
const write = (value: unknown, name = 'config.json', sub?: string): string => {
  const dir = join(root, `c${counter++}`, ...(sub ? [sub] : []));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
};
const HOME = '/home/tester';
const opts = (env: Record<string, string> = {}, warnings: string[] = []): LoadOptions => ({
  env,
  homeDir: HOME,
  onWarning: (m) => warnings.push(m),
});
const load = (value: unknown, env: Record<string, string> = {}) =>
  loadProxyConfig(write(value), opts(env));

const memory = { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] };

describe('loadProxyConfig: the two shapes', () => {
  it('reads a Claude Desktop / Cursor / Claude Code file (mcpServers)', () => {
    const config = load({
      mcpServers: {
        memory,
        remote: { url: 'https://example.com/mcp', headers: { 'X-Key': 'k' } },
        legacy: { type: 'sse', url: 'http://127.0.0.1:9000/sse' },
        streamable: { type: 'streamable-http', url: 'http://127.0.0.1:9001/mcp' },
      },
    });
    expect(config.servers).toEqual([
      { name: 'memory', type: 'stdio', ...memory, env: {}, trusted: false },
      {
        name: 'remote',
        type: 'http',
        url: 'https://example.com/mcp',
        headers: { 'X-Key': 'k' },
        trusted: false,
      },
      {
        name: 'legacy',
        type: 'sse',
        url: 'http://127.0.0.1:9000/sse',
        headers: {},
        trusted: false,
      },
      {
        name: 'streamable',
        type: 'http',
        url: 'http://127.0.0.1:9001/mcp',
        headers: {},
        trusted: false,
      },
    ]);
  });

  it('reads a VS Code mcp.json (servers, type, inputs) with comments and trailing commas', () => {
    const file = write(
      `// VS Code workspace servers
{
  "inputs": [],
  "servers": {
    /* the GitHub server */
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": { "Authorization": "Bearer \${env:GH_TOKEN}" }, // a trailing comma follows
    },
    "fs": { "type": "stdio", "command": "npx", "args": ["-y", "server-filesystem", "\${workspaceFolder}"], "cwd": "sub" },
  },
}`,
      'mcp.json',
      '.vscode',
    );
    const config = loadProxyConfig(file, opts({ GH_TOKEN: 'abc' }));
    const workspace = join(file, '..', '..');
    expect(config.servers).toEqual([
      {
        name: 'github',
        type: 'http',
        url: 'https://api.githubcopilot.com/mcp/',
        headers: { Authorization: 'Bearer abc' },
        trusted: false,
      },
      {
        name: 'fs',
        type: 'stdio',
        command: 'npx',
        args: ['-y', 'server-filesystem', workspace],
        env: {},
        // Relative to the config file's folder, not the workspace.
        cwd: join(file, '..', 'sub'),
        trusted: false,
      },
    ]);
  });

  it('merges servers and mcpServers, in file order, and refuses a name in both', () => {
    const config = load({
      mcpServers: { b: memory },
      servers: { a: { type: 'stdio', command: 'x' } },
    });
    expect(config.servers.map((s) => s.name)).toEqual(['b', 'a']);
    const err = configError(() => load({ servers: { a: memory }, mcpServers: { a: memory } }));
    expect(err.field).toBe('mcpServers.a');
    expect(err.problem).toContain('both servers and mcpServers');
  });

  it('skips disabled servers, keeps unknown keys of other tools out of the way', () => {
    const warnings: string[] = [];
    const config = loadProxyConfig(
      write({
        mcpServers: {
          off: { ...memory, disabled: true },
          on: { ...memory, autoApprove: ['x'], alwaysAllow: [], timeout: 60, disabled: false },
        },
      }),
      opts({}, warnings),
    );
    expect(config.servers.map((s) => s.name)).toEqual(['on']);
    expect(warnings).toEqual(['mcpServers.off: disabled, skipped']);
    const all = configError(() => load({ mcpServers: { off: { ...memory, disabled: true } } }));
    expect(all.problem).toContain('disabled');
  });

  it('marks servers trusted by their hitloop key or by policy.trustedServers', () => {
    const config = load({
      mcpServers: { a: { ...memory, hitloop: { trusted: true } }, b: memory, c: memory },
      policy: { type: 'rules', trustedServers: ['b'] },
    });
    expect(config.servers.map((s) => [s.name, s.trusted])).toEqual([
      ['a', true],
      ['b', true],
      ['c', false],
    ]);
    const typo = configError(() =>
      load({ mcpServers: { a: memory }, policy: { rules: [], trustedServers: ['A'] } }),
    );
    expect(typo.field).toBe('policy.trustedServers[0]');
    const strict = configError(() =>
      load({ mcpServers: { a: { ...memory, hitloop: { trusted: true, trust: 1 } } } }),
    );
    expect(strict.field).toBe('mcpServers.a.hitloop');
    expect(strict.message).toContain('trust');
  });
});

describe('loadProxyConfig: defaults', () => {
  it('fills every section with documented defaults', async () => {
    const config = load({ mcpServers: { memory } });
    expect(config.approval).toEqual({
      backend: 'hub',
      fallback: 'auto-reject',
      timeoutMs: 600_000,
      toolTimeouts: [],
      keepAliveMs: 15_000,
      resumeWindowMs: 120_000,
    });
    expect(config.telemetry).toEqual({
      db: join(HOME, '.hitloop', 'telemetry.db'),
      required: false,
      redactKeys: true,
    });
    expect(config.proxy).toEqual({
      prefixNames: false,
      separator: '__',
      protectHitloopFiles: true,
      protectedPaths: [],
      permissionPrompt: false,
      nameInClient: 'hitloop',
      logLevel: 'info',
      maxMessageBytes: 16 * 1024 * 1024,
      startupTimeoutMs: 20_000,
      executionTimeoutMs: 600_000,
      executionTimeouts: {},
      httpMaxSessions: 16,
      httpIdleSessionMs: 300_000,
    });
    // Default policy: every call asks.
    const decision = await config.policy.evaluate(
      createAction({ toolName: 'read_file', toolArgs: {}, riskClass: 'low' }),
    );
    expect(decision.verdict).toBe('ask');
  });

  it('reads the team settings: a store URL with ${env:...}, a store file, an instance name', () => {
    const team = load(
      {
        mcpServers: { memory },
        approval: {
          store: 'postgres://hitloop:${env:PGPASS}@db.internal:5432/approvals',
          instance: 'build-box:fs',
          resumeWindowMs: 30_000,
        },
      },
      { PGPASS: 's3cret' },
    );
    expect(team.approval).toMatchObject({
      store: 'postgres://hitloop:s3cret@db.internal:5432/approvals',
      instance: 'build-box:fs',
      resumeWindowMs: 30_000,
    });
    const file = write({ mcpServers: { memory }, approval: { store: 'state/approvals.db' } });
    expect(loadProxyConfig(file, opts()).approval.store).toBe(
      join(file, '..', 'state', 'approvals.db'),
    );
    const bad = configError(() =>
      load({ mcpServers: { memory }, approval: { instance: 'has spaces' } }),
    );
    expect(bad.field).toBe('approval.instance');
    expect(bad.message).toContain('use 1 to 200 of');
    const unset = configError(() =>
      load({ mcpServers: { memory }, approval: { store: 'postgres://u:${env:NOPE}@h/db' } }),
    );
    expect(unset.message).toContain('NOPE');
  });

  it('reads approval.webhook, expands its variables, and names what is missing', () => {
    const hook = {
      url: 'https://bridge.example/hitloop',
      callbackBaseUrl: 'https://hub.example/v1/callbacks',
      secret: '${env:HOOK_SECRET}',
      headers: { authorization: 'Bearer ${env:BRIDGE_TOKEN}' },
    };
    const config = load(
      { mcpServers: { memory }, approval: { backend: 'webhook', webhook: hook } },
      { HOOK_SECRET: 'x'.repeat(32), BRIDGE_TOKEN: 'bt' },
    );
    expect(config.approval.webhook).toMatchObject({
      secret: 'x'.repeat(32),
      headers: { authorization: 'Bearer bt' },
      retry: { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 30_000, jitter: 0.2 },
      circuitBreaker: { failureThreshold: 5, resetTimeoutMs: 30_000, halfOpenMaxCalls: 1 },
    });
    const missing = configError(() =>
      load({ mcpServers: { memory }, approval: { backend: 'webhook' } }),
    );
    expect(missing.field).toBe('approval.webhook');
    const short = configError(() =>
      load(
        { mcpServers: { memory }, approval: { backend: 'webhook', webhook: hook } },
        { HOOK_SECRET: 'short', BRIDGE_TOKEN: 'bt' },
      ),
    );
    expect(short.field).toBe('approval.webhook.secret');
    const badUrl = configError(() =>
      load({
        mcpServers: { memory },
        approval: { backend: 'webhook', webhook: { ...hook, url: 'ftp://x' } },
      }),
    );
    expect(badUrl.field).toBe('approval.webhook.url');
  });

  it('prefixes names by default only with more than one server', () => {
    expect(load({ mcpServers: { a: memory, b: memory } }).proxy.prefixNames).toBe(true);
    expect(
      load({ mcpServers: { a: memory }, proxy: { prefixNames: true } }).proxy.prefixNames,
    ).toBe(true);
    expect(
      load({ mcpServers: { a: memory, b: memory }, proxy: { prefixNames: false } }).proxy
        .prefixNames,
    ).toBe(false);
  });

  it('reads the hitloop sections', async () => {
    const file = write({
      mcpServers: { memory },
      policy: { rules: [{ tool: 'read_*', effect: 'allow' }] },
      approval: {
        backend: 'elicitation',
        fallback: 'auto-approve',
        timeoutMs: 1000,
        toolTimeouts: { 'fs__write_*': 5000, '*': 7000 },
        keepAliveMs: 500,
      },
      telemetry: { db: 'data/t.db', required: true },
      proxy: { separator: '.', permissionPrompt: true, logLevel: 'debug', maxMessageBytes: 2048 },
    });
    const config = loadProxyConfig(file, opts());
    expect(config.approval).toEqual({
      backend: 'elicitation',
      fallback: 'auto-approve',
      timeoutMs: 1000,
      toolTimeouts: [
        { tool: 'fs__write_*', timeoutMs: 5000 },
        { tool: '*', timeoutMs: 7000 },
      ],
      keepAliveMs: 500,
      resumeWindowMs: 120_000,
    });
    expect(config.telemetry).toEqual({
      db: join(file, '..', 'data', 't.db'),
      required: true,
      redactKeys: true,
    });
    expect(config.proxy).toMatchObject({
      separator: '.',
      permissionPrompt: true,
      logLevel: 'debug',
    });
    const allow = await config.policy.evaluate(
      createAction({ toolName: 'read_file', toolArgs: {} }),
    );
    expect(allow.verdict).toBe('allow');
    expect(load({ mcpServers: { memory }, telemetry: { db: false } }).telemetry).toEqual({
      required: false,
      redactKeys: true,
    });
    expect(load({ mcpServers: { memory }, telemetry: { db: '~/t.db' } }).telemetry.db).toBe(
      join(HOME, 't.db'),
    );
  });

  it('defaultHitloopHome: HITLOOP_HOME, else ~/.hitloop', () => {
    expect(defaultHitloopHome({}, '/h')).toBe(join('/h', '.hitloop'));
    expect(defaultHitloopHome({ HITLOOP_HOME: '/srv/hl' }, '/h')).toBe('/srv/hl');
    expect(defaultHitloopHome({ HITLOOP_HOME: '~/x' }, '/h')).toBe(join('/h', 'x'));
    const config = load({ mcpServers: { memory } }, { HITLOOP_HOME: '/var/hl' });
    expect(config.telemetry.db).toBe(join('/var/hl', 'telemetry.db'));
  });
});

describe('loadProxyConfig: variables', () => {
  it('expands ${env:VAR}, ${VAR}, ${VAR:-default}, ${userHome} in every server string', () => {
    const env = { TOKEN: 't0k', DIR: '/data', EMPTY: '', PORT: '8080' };
    const config = load(
      {
        mcpServers: {
          s: {
            command: '${env:DIR}/bin/server',
            args: ['--root', '${DIR}', '--mode=${MODE:-fast}', '${EMPTY:-fallback}', 3, '${1}'],
            env: { API_TOKEN: '${TOKEN}', HOME_DIR: '${userHome}', N: 5, GONE: null },
          },
          r: {
            url: 'http://localhost:${PORT}/mcp',
            headers: { Authorization: 'Bearer ${env:TOKEN}' },
          },
        },
        telemetry: { db: '${DIR}/telemetry.db' },
      },
      env,
    );
    expect(config.servers[0]).toMatchObject({
      command: '/data/bin/server',
      // A `${1}` is not a reference: shell snippets pass through untouched.
      args: ['--root', '/data', '--mode=fast', 'fallback', '3', '${1}'],
      env: { API_TOKEN: 't0k', HOME_DIR: HOME, N: '5' },
    });
    expect(config.servers[1]).toMatchObject({
      url: 'http://localhost:8080/mcp',
      headers: { Authorization: 'Bearer t0k' },
    });
    expect(config.telemetry.db).toBe('/data/telemetry.db');
  });

  it('names the field and the variable when a variable is unset', () => {
    const err = configError(() =>
      load({ servers: { github: { command: 'gh', env: { GITHUB_TOKEN: '${env:GH_PAT}' } } } }),
    );
    expect(err.field).toBe('servers.github.env.GITHUB_TOKEN');
    expect(err.problem).toContain('GH_PAT');
    expect(err.fix).toContain('GH_PAT');
    const arg = configError(() =>
      load({ mcpServers: { fs: { command: 'x', args: ['a', '${NOPE}'] } } }),
    );
    expect(arg.field).toBe('mcpServers.fs.args[1]');
    const header = configError(() =>
      load({ mcpServers: { r: { url: 'https://x/mcp', headers: { Authorization: '${T}' } } } }),
    );
    expect(header.field).toBe('mcpServers.r.headers.Authorization');
    const db = configError(() => load({ mcpServers: { memory }, telemetry: { db: '${NODB}/x' } }));
    expect(db.field).toBe('telemetry.db');
  });

  it('refuses ${input:...} and other VS Code command variables with a fix', () => {
    const input = configError(() =>
      load({ servers: { gh: { type: 'http', url: 'https://x', headers: { A: '${input:pat}' } } } }),
    );
    expect(input.field).toBe('servers.gh.headers.A');
    expect(input.problem).toContain('prompt');
    expect(input.fix).toContain('${env:');
    const cmd = configError(() => load({ servers: { a: { command: '${command:pick}' } } }));
    expect(cmd.field).toBe('servers.a.command');
    expect(cmd.problem).toContain('not support');
  });

  it('${workspaceFolder} is the folder holding .vscode, else the config file folder', () => {
    const inVscode = write(
      { servers: { a: { command: 'x', args: ['${workspaceFolder}'] } } },
      'mcp.json',
      '.vscode',
    );
    const plain = write(
      { mcpServers: { a: { command: 'x', args: ['${workspaceFolder}'] } } },
      '.mcp.json',
    );
    const argOf = (file: string) => {
      const s = loadProxyConfig(file, opts()).servers[0]!;
      return s.type === 'stdio' ? s.args[0] : undefined;
    };
    expect(argOf(inVscode)).toBe(join(inVscode, '..', '..'));
    expect(argOf(plain)).toBe(join(plain, '..'));
  });

  it('loads envFile before env', () => {
    const file = write({
      mcpServers: { a: { command: 'x', envFile: '.env', env: { B: 'from-env' } } },
    });
    writeFileSync(
      join(file, '..', '.env'),
      '# secrets\nA=1\nexport B=from-file\nC="two words # not a comment"\nD=plain # comment\n',
    );
    const s = loadProxyConfig(file, opts()).servers[0]!;
    expect(s.type === 'stdio' && s.env).toEqual({
      A: '1',
      B: 'from-env',
      C: 'two words # not a comment',
      D: 'plain',
    });
    const missing = configError(() =>
      load({ mcpServers: { a: { command: 'x', envFile: 'nope.env' } } }),
    );
    expect(missing.field).toBe('mcpServers.a.envFile');
    expect(missing.problem).toMatch(/^cannot read .*nope\.env \(ENOENT\)$/);
    expect(missing.fix).toContain('relative paths start at the folder of the config file');
  });

  it('takes a multi-line quoted value from envFile whole', () => {
    const file = write({ mcpServers: { a: { command: 'x', envFile: '.env' } } });
    writeFileSync(
      join(file, '..', '.env'),
      'CERT="-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----"\nAFTER=1\n',
    );
    const s = loadProxyConfig(file, opts()).servers[0]!;
    expect(s.type === 'stdio' && s.env).toEqual({
      CERT: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----',
      AFTER: '1',
    });
  });
});

describe('loadProxyConfig: errors name the file and the field', () => {
  const cases: Array<[string, unknown, string | undefined, RegExp]> = [
    ['no servers key', { policy: { type: 'always_approve' } }, undefined, /neither "servers"/],
    ['empty servers', { mcpServers: {} }, undefined, /no MCP servers/],
    ['servers not an object', { servers: [] }, 'servers', /a list/],
    [
      'bad server name',
      { mcpServers: { 'my server': memory } },
      'mcpServers["my server"]',
      /characters/,
    ],
    ['entry not an object', { mcpServers: { a: 'npx' } }, 'mcpServers.a', /expected an object/],
    [
      'neither command nor url',
      { mcpServers: { a: { args: [] } } },
      'mcpServers.a',
      /neither "command"/,
    ],
    [
      'both command and url',
      { mcpServers: { a: { command: 'x', url: 'http://x' } } },
      'mcpServers.a',
      /both/,
    ],
    [
      'unknown type',
      { servers: { a: { type: 'ws', url: 'ws://x' } } },
      'servers.a.type',
      /unknown server type/,
    ],
    [
      'args not strings',
      { mcpServers: { a: { command: 'x', args: ['a', true] } } },
      'mcpServers.a.args[1]',
      /./,
    ],
    ['empty command', { mcpServers: { a: { command: '' } } }, 'mcpServers.a.command', /./],
    [
      'url not http',
      { mcpServers: { a: { url: 'file:///etc/passwd' } } },
      'mcpServers.a.url',
      /not an http/,
    ],
    [
      'bad header name',
      { mcpServers: { a: { url: 'http://x', headers: { 'Bad Header': 'v' } } } },
      'mcpServers.a.headers.Bad Header',
      /header name/,
    ],
    [
      'unknown approval key',
      { mcpServers: { memory }, approval: { timeout: 5 } },
      'approval',
      /timeout/,
    ],
    [
      'bad backend',
      { mcpServers: { memory }, approval: { backend: 'slack' } },
      'approval.backend',
      /./,
    ],
    [
      'timeout not positive',
      { mcpServers: { memory }, approval: { timeoutMs: 0 } },
      'approval.timeoutMs',
      /./,
    ],
    [
      'timeout overflows timers',
      { mcpServers: { memory }, approval: { timeoutMs: 2 ** 31 } },
      'approval.timeoutMs',
      /24 days/,
    ],
    [
      'tool timeout',
      { mcpServers: { memory }, approval: { toolTimeouts: { 'x*': 'soon' } } },
      'approval.toolTimeouts.x*',
      /./,
    ],
    [
      'tool timeout glob negated',
      { mcpServers: { memory }, approval: { toolTimeouts: { '!x*': 5000 } } },
      'approval.toolTimeouts.!x*',
      /cannot start with "!"/,
    ],
    [
      'execution timeout glob negated',
      { mcpServers: { memory }, proxy: { executionTimeouts: { '!x*': 5000 } } },
      'proxy.executionTimeouts.!x*',
      /cannot start with "!"/,
    ],
    [
      'unknown telemetry key',
      { mcpServers: { memory }, telemetry: { path: 'x' } },
      'telemetry',
      /path/,
    ],
    ['telemetry db true', { mcpServers: { memory }, telemetry: { db: true } }, 'telemetry.db', /./],
    ['unknown proxy key', { mcpServers: { memory }, proxy: { prefix: true } }, 'proxy', /prefix/],
    [
      'bad separator',
      { mcpServers: { memory }, proxy: { separator: '::' } },
      'proxy.separator',
      /characters/,
    ],
    [
      'bad log level',
      { mcpServers: { memory }, proxy: { logLevel: 'loud' } },
      'proxy.logLevel',
      /./,
    ],
    [
      'policy without type',
      { mcpServers: { memory }, policy: { amountThreshold: 5 } },
      'policy.type',
      /no policy type/,
    ],
    [
      'unknown policy type',
      { mcpServers: { memory }, policy: { type: 'rulez' } },
      'policy.type',
      /rulez/,
    ],
    [
      'bad rule',
      { mcpServers: { memory }, policy: { rules: [{ tool: 'x', effect: 'permit' }] } },
      'policy.rules[0].effect',
      /./,
    ],
    [
      'policy not an object',
      { mcpServers: { memory }, policy: 'rules.json' },
      'policy',
      /policy object/,
    ],
    ['misspelt top-level key', { mcpServers: { memory }, aproval: {} }, 'aproval', /approval/],
    ['wrong case', { mcpservers: { memory } }, 'mcpservers', /mcpServers/],
    ['VS Code settings.json', { mcp: { servers: { memory } } }, 'mcp.servers', /settings\.json/],
  ];
  it.each(cases)('%s', (_label, value, field, problem) => {
    const file = write(value);
    const err = configError(() => loadProxyConfig(file, opts()));
    expect(err.file).toBe(file);
    expect(err.field).toBe(field);
    expect(`${err.problem} ${err.fix ?? ''}`).toMatch(problem);
    expect(err.message).toContain(file);
  });

  it('refuses a server name containing the separator when names are prefixed', () => {
    const err = configError(() => load({ mcpServers: { a__b: memory, c: memory } }));
    expect(err.field).toBe('mcpServers.a__b');
    expect(err.fix).toContain('a-b');
    // One server: no prefixes, nothing ambiguous.
    expect(load({ mcpServers: { a__b: memory } }).servers[0]!.name).toBe('a__b');
    const custom = configError(() =>
      load({ mcpServers: { 'my-fs': memory, b: memory }, proxy: { separator: '-' } }),
    );
    expect(custom.field).toBe('mcpServers.my-fs');
  });

  it('reports a missing file, a folder, and invalid JSON with line and column', () => {
    const missing = configError(() => loadProxyConfig(join(root, 'nope.json'), opts()));
    expect(missing.problem).toBe('file not found');
    expect(configError(() => loadProxyConfig(root, opts())).problem).toContain('folder');
    const broken = write('{\n  "mcpServers": {\n    "a": { "command": "x" }\n    "b": {}\n  }\n}');
    const err = configError(() => loadProxyConfig(broken, opts()));
    expect(err.problem).toContain('line 4, column 5');
    expect(err.fix).toContain('comma');
    const notObject = configError(() => loadProxyConfig(write('[1]'), opts()));
    expect(notObject.problem).toContain('a list');
  });
});

describe('parseJsonc', () => {
  const parse = (text: string) => parseJsonc(text, 'f.json').value;
  const fail = (text: string) => {
    const err = configError(() => parse(text));
    return `${err.problem} ${err.fix ?? ''}`;
  };

  it('agrees with JSON.parse on plain JSON', () => {
    const samples = [
      '{"a":[1,-2.5e3,0.1,true,false,null,"x\\"y\\\\z\\u00e9\\n\\/"],"b":{}}',
      '[]',
      '"just a string"',
      '  42  ',
      '{"__proto__": {"polluted": true}, "k": "v"}',
    ];
    for (const s of samples) expect(parse(s)).toEqual(JSON.parse(s));
    const proto = parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });

  it('skips comments and trailing commas but never inside strings', () => {
    const text = `{
      // line comment with "quotes" and /* nested */
      "url": "http://example.com/a//b", /* block
      comment */ "glob": "/*/**",
      "list": [1, 2, /* x */ 3,],
    }`;
    expect(parse(text)).toEqual({ url: 'http://example.com/a//b', glob: '/*/**', list: [1, 2, 3] });
    expect(parseJsonc(text, 'f').hasComments).toBe(true);
    expect(parseJsonc('{"a": "//"}', 'f').hasComments).toBe(false);
    expect(parse('\uFEFF{"bom": 1}')).toEqual({ bom: 1 });
  });

  it('reports errors with line and column', () => {
    expect(fail('{\n  "a": 1,\n  "a": 2\n}')).toMatch(/line 3, column 3: duplicate key "a"/);
    expect(fail('{"a": \'x\'}')).toMatch(/double quotes/);
    expect(fail('{a: 1}')).toMatch(/line 1, column 2.*double-quoted key/);
    expect(fail('{"a": 1} x')).toMatch(/after the end/);
    expect(fail('{"a": "unterminated}')).toMatch(/not closed/);
    expect(fail('{"a": 1 /* open')).toMatch(/comment is not closed/);
    expect(fail('{"a": [1 2]}')).toMatch(/expected ',' or '\]'/);
    expect(fail('{"a": "C:\\Users"}')).toMatch(/invalid escape/);
    expect(fail('{"a": tru}')).toMatch(/bare words/);
    expect(fail('{"a": 01}')).toMatch(/expected ',' or '}'/);
    expect(fail('')).toMatch(/empty/);
    expect(fail('{"a": "line\nbreak"}')).toMatch(/line 1, column 12: a string is not closed/);
  });
});

describe('parseDotenv', () => {
  it('reads KEY=value lines and reports bad ones by line', () => {
    expect(parseDotenv('A=1\r\n\r\nB="x\\ny"\nC=\'$raw\'\n', '.env')).toEqual({
      A: '1',
      B: 'x\ny',
      C: '$raw',
    });
    expect(configError(() => parseDotenv('A=1\nnot a pair\n', '.env')).problem).toContain('line 2');
    expect(configError(() => parseDotenv('A="open\n', '.env')).problem).toContain('closing');
  });
  it('reads a quoted value over several lines, as Node and dotenv do', () => {
    const pem = '-----BEGIN KEY-----\nMIIB\n-----END KEY-----';
    expect(parseDotenv(`KEY="${pem}"\r\nSINGLE='a\nb'\nexport NEXT=2 # comment\n`, '.env')).toEqual(
      { KEY: pem, SINGLE: 'a\nb', NEXT: '2' },
    );
    expect(parseDotenv('\uFEFFA=1\n', '.env')).toEqual({ A: '1' });
  });
  it('refuses, by line, what parseEnv would silently read otherwise', () => {
    const notPair = configError(() => parseDotenv('A=1\nnot a pair\nB=2\n', '.env'));
    expect(notPair.problem).toBe('line 2 is not KEY=value');
    expect(notPair.file).toBe('.env');
    const open = configError(() => parseDotenv('A=1\nB="never closed\nC=3\n', '.env'));
    expect(open.problem).toBe('line 2: the value of B has no closing "');
    const escaped = configError(() => parseDotenv('A="say \\"hi\\""\n', '.env'));
    expect(escaped.problem).toContain('line 1: the value of A has \\" inside double quotes');
    expect(escaped.fix).toContain('A=\'say "hi"\'');
  });
});

describe('configFromCommand', () => {
  it('builds one stdio upstream with a derived name and no prefixes', () => {
    const config = configFromCommand(
      { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'] },
      opts(),
    );
    expect(config.source).toBe('command line');
    expect(config.servers).toEqual([
      {
        name: 'server-filesystem',
        type: 'stdio',
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'],
        env: {},
        trusted: false,
      },
    ]);
    expect(config.proxy.prefixNames).toBe(false);
    expect(config.approval.backend).toBe('hub');
    expect(config.telemetry.db).toBe(join(HOME, '.hitloop', 'telemetry.db'));
  });

  it('builds a remote upstream with headers from flags and HITLOOP_HEADER_n', () => {
    const config = configFromCommand(
      {
        url: 'https://api.example.com:8443/mcp',
        type: 'sse',
        headers: ['X-Trace: 1', 'authorization: Bearer flag'],
      },
      opts({
        HITLOOP_HEADER_2: 'X-Second: two',
        HITLOOP_HEADER_1: 'Authorization: Bearer env',
        HITLOOP_HEADER_X: 'ignored: yes',
      }),
    );
    expect(config.servers).toEqual([
      {
        name: 'api-example-com-8443',
        type: 'sse',
        url: 'https://api.example.com:8443/mcp',
        headers: { 'X-Second': 'two', 'X-Trace': '1', authorization: 'Bearer flag' },
        trusted: false,
      },
    ]);
  });

  it('takes settings from --config and the policy from --policy', async () => {
    const settings = write({
      mcpServers: { ignored: memory },
      approval: { backend: 'auto-approve', timeoutMs: 1234 },
      proxy: { logLevel: 'warn' },
      policy: { type: 'always_approve' },
    });
    const policyFile = write({
      policy: { default: 'deny', trustedServers: ['mine'], rules: [] },
    });
    const config = configFromCommand(
      { command: './srv', name: 'mine', configFile: settings, policyFile },
      opts(),
    );
    expect(config.source).toBe(settings);
    expect(config.servers.map((s) => [s.name, s.trusted])).toEqual([['mine', true]]);
    expect(config.approval).toMatchObject({ backend: 'auto-approve', timeoutMs: 1234 });
    expect(config.proxy.logLevel).toBe('warn');
    const d = await config.policy.evaluate(createAction({ toolName: 'x', toolArgs: {} }));
    expect(d.verdict).toBe('deny');
    expect(loadProxySettings(settings, opts()).serverNames).toEqual(['ignored']);
  });

  it('refuses contradictory or missing upstreams and bad flags', () => {
    expect(configError(() => configFromCommand({}, opts())).problem).toContain('no upstream');
    expect(
      configError(() => configFromCommand({ command: 'x', url: 'http://x' }, opts())).file,
    ).toBe('--upstream-url');
    expect(
      configError(() => configFromCommand({ command: 'x', headers: ['A: b'] }, opts())).file,
    ).toBe('--header');
    expect(configError(() => configFromCommand({ command: 'x', type: 'sse' }, opts())).file).toBe(
      '--upstream-type',
    );
    const name = configError(() => configFromCommand({ command: 'x', name: 'a b' }, opts()));
    expect(name.file).toBe('--name');
    expect(name.fix).toContain('a-b');
    expect(configError(() => configFromCommand({ url: 'ftp://x' }, opts())).file).toBe(
      '--upstream-url',
    );
    expect(
      configError(() => configFromCommand({ url: 'http://x', headers: ['nocolon'] }, opts())).file,
    ).toBe('--header');
    expect(
      configError(() =>
        configFromCommand({ command: 'x', configFile: join(root, 'no.json') }, opts()),
      ).problem,
    ).toBe('file not found');
  });

  it('derives readable names from common launchers', () => {
    const cases: Array<[string, string[], string]> = [
      ['npx', ['-y', '@modelcontextprotocol/server-memory@1.2.3'], 'server-memory'],
      ['uvx', ['--from', 'git+https://x', 'mcp-server-git', '--repository', '.'], 'mcp-server-git'],
      ['python3', ['-m', 'weather_server'], 'weather_server'],
      ['node', ['/opt/weather/build/index.js'], 'weather'],
      ['/usr/local/bin/github-mcp-server', ['stdio'], 'github-mcp-server'],
      ['C:\\tools\\my.server.exe', [], 'my-server'],
      [
        'docker',
        ['run', '-i', '--rm', '-e', 'TOKEN', 'ghcr.io/github/github-mcp-server:v1'],
        'github-mcp-server',
      ],
      ['uv', ['run', '--with', 'mcp', 'server.py'], 'server'],
      ['env', ['A=1', 'node', 'srv.js'], 'srv'],
      ['npx', [], 'npx'],
    ];
    for (const [command, args, name] of cases) expect(deriveServerName(command, args)).toBe(name);
    expect(deriveServerNameFromUrl('http://127.0.0.1:3000/mcp')).toBe('127-0-0-1-3000');
    expect(sanitizeServerName('a__b  c!')).toBe('a_b-c');
    expect(sanitizeServerName('***')).toBe('upstream');
    expect(parseHeaderFlag('X-A:  b: c ')).toEqual(['X-A', 'b: c']);
    expect(configError(() => parseHeaderFlag('X: a\nb')).problem).toContain('line break');
  });
});

describe('published JSON Schema', () => {
  const committed = JSON.parse(
    readFileSync(new URL('../../schemas/hitloop-config.schema.json', import.meta.url), 'utf8'),
  );
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(committed);
  const example = (name: string) =>
    JSON.parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8'));

  it('is what the generator produces now (run node scripts/gen-config-schema.mjs if not)', () => {
    expect(committed).toEqual(buildConfigJsonSchema());
  });

  it('accepts the example configs, which also load', () => {
    for (const name of ['hitloop.config.json', 'vscode-mcp.json']) {
      const ok = validate(example(name));
      expect(validate.errors ?? [], name).toEqual([]);
      expect(ok).toBe(true);
      const file = new URL(`../../examples/${name}`, import.meta.url).pathname;
      const config = loadProxyConfig(file, opts({ GITHUB_TOKEN: 'x' }));
      expect(config.servers.length).toBeGreaterThan(0);
    }
  });

  it('rejects what the loader rejects in hitloop sections, and describes fields', () => {
    expect(validate({ mcpServers: { a: memory }, approval: { timeout: 1 } })).toBe(false);
    expect(validate({ mcpServers: { 'a b': memory } })).toBe(false);
    expect(validate({ mcpServers: { a: { args: [] } } })).toBe(false);
    expect(validate({ servers: { a: { type: 'http', url: 'https://x', autoApprove: [] } } })).toBe(
      true,
    );
    expect(validate({ policy: { rules: [{ tool: 'x', effect: 'allow' }] } })).toBe(true);
    expect(committed.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(committed.properties.approval.properties.timeoutMs.description).toMatch(/10 minutes/);
    expect(committed.definitions.server.anyOf).toHaveLength(2);
  });
});
