import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHitloop } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const dir = makeTempDir('hitloop-cli-');
const write = (name: string, value: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
};
const rules = write('rules.json', {
  policy: {
    type: 'rules',
    default: 'ask',
    rules: [
      { id: 'tmp-writes', tool: 'write_*', args: { path: { glob: '/tmp/**' } }, effect: 'allow' },
      {
        id: 'no-rm',
        tool: 'run_*',
        args: { command: { regex: '^rm\\s' } },
        effect: 'deny',
        reason: 'no rm',
      },
    ],
  },
});
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('hitloop CLI basics', () => {
  it('prints help and version', () => {
    const help = runHitloop(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('policy');
    expect(help.stdout).toContain('telemetry');
    const version = runHitloop(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
  it('exits 2 on an unknown command or a missing required option', () => {
    const unknown = runHitloop(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
    const missing = runHitloop(['policy', 'check', '--config', rules]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--tool');
  });
});

describe('hitloop policy check', () => {
  it('prints the verdict and the rule that produced it', () => {
    const allow = runHitloop([
      'policy',
      'check',
      '--config',
      rules,
      '--tool',
      'write_file',
      '--args',
      '{"path":"/tmp/x"}',
    ]);
    expect(allow.code).toBe(0);
    expect(allow.stdout).toMatch(/verdict: allow/);
    expect(allow.stdout).toMatch(/rule: +tmp-writes/);
    const deny = runHitloop([
      'policy',
      'check',
      '-c',
      rules,
      '-t',
      'run_shell',
      '-a',
      '{"command":"rm -rf /"}',
      '--json',
    ]);
    expect(deny.code).toBe(0);
    expect(JSON.parse(deny.stdout)).toMatchObject({
      policy: 'rules',
      verdict: 'deny',
      rule: 'no-rm',
      reason: 'no rm',
    });
    const fallback = runHitloop([
      'policy',
      'check',
      '-c',
      rules,
      '-t',
      'write_file',
      '-a',
      '{"path":"/etc/passwd"}',
      '--json',
    ]);
    expect(JSON.parse(fallback.stdout)).toMatchObject({ verdict: 'ask', rule: 'default' });
  });
  it('uses --risk and --server with a risk-based policy', () => {
    const risk = write('risk.json', { type: 'risk_based' });
    const high = runHitloop(['policy', 'check', '-c', risk, '-t', 'x', '--risk', 'high', '--json']);
    expect(JSON.parse(high.stdout).verdict).toBe('ask');
    const bad = runHitloop(['policy', 'check', '-c', risk, '-t', 'x', '--risk', 'extreme']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('extreme');
  });
  it('exits 2 naming the file, the field and the fix for an invalid rule file', () => {
    const file = write('bad.json', {
      policy: { type: 'rules', rules: [{ tool: 'x', effect: 'permit' }] },
    });
    const r = runHitloop(['policy', 'check', '-c', file, '-t', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('policy.rules[0].effect');
    expect(r.stderr).toContain('fix:');
    noStack(r.stderr);
  });
  it('exits 2 naming the file, the field and the fix for a negated tool glob', () => {
    const file = write('negated.json', {
      policy: { type: 'rules', rules: [{ tool: '!fs__*', effect: 'allow' }] },
    });
    const r = runHitloop(['policy', 'check', '-c', file, '-t', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('policy.rules[0].tool');
    expect(r.stderr).toContain('cannot start with "!"');
    noStack(r.stderr);
  });
  it('exits 2 naming the envFile and its line, or the field when it cannot be read', () => {
    const server = (envFile: string) => ({
      mcpServers: { s: { command: 'node', envFile } },
      policy: { type: 'always_approve' },
    });
    const missing = write('envfile-missing.json', server('nope.env'));
    const r = runHitloop(['policy', 'check', '-c', missing, '-t', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toContain('mcpServers.s.envFile');
    expect(r.stderr).toContain('fix:');
    noStack(r.stderr);
    const envFile = write('open.env', 'A=1\nB="never closed\n');
    const open = runHitloop([
      'policy',
      'check',
      '-c',
      write('envfile-open.json', server(envFile)),
      '-t',
      'x',
    ]);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(envFile);
    expect(open.stderr).toContain('line 2: the value of B has no closing "');
    noStack(open.stderr);
  });
  it('exits 2 for a rules file that is not JSON, or missing', () => {
    const notJson = runHitloop([
      'policy',
      'check',
      '-c',
      write('broken.json', '{"rules": ['),
      '-t',
      'x',
    ]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('not valid JSON');
    noStack(notJson.stderr);
    const missing = runHitloop(['policy', 'check', '-c', join(dir, 'absent.json'), '-t', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('file not found');
  });
  // What the proxy would decide, read the proxy's way (policy-check-agrees
  // compares the two end to end); each of these differed before.
  const twoServers = {
    mcpServers: {
      fs: { command: 'node', args: ['fs.js'] },
      memory: { command: 'node', args: ['memory.js'] },
    },
  };
  it('splits a prefixed tool name into server and tool, as the proxy does', () => {
    const file = write('two-servers.json', {
      ...twoServers,
      policy: { rules: [{ tool: 'write_file', server: 'fs', effect: 'allow' }] },
    });
    const r = runHitloop(['policy', 'check', '-c', file, '-t', 'fs__write_file', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      verdict: 'allow',
      rule: 'rules[0]',
      server: 'fs',
      tool: 'write_file',
    });
  });
  it("reads JSONC and, without a policy key, applies the proxy's default (every call asks)", () => {
    const file = write(
      'mcp.jsonc',
      `// VS Code style\n{ "servers": ${JSON.stringify(twoServers.mcpServers)}, }\n`,
    );
    const r = runHitloop(['policy', 'check', '-c', file, '-t', 'memory__create_entities']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/verdict: ask/);
    expect(r.stdout).toMatch(/rule: +default/);
    expect(r.stdout).toMatch(/call: +tool create_entities of server memory/);
    // Plain JSON without a policy key too.
    const plain = write('no-policy.json', twoServers);
    const p = runHitloop(['policy', 'check', '-c', plain, '-t', 'fs__read_file', '--json']);
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ verdict: 'ask', rule: 'default' });
  });
  it('checks an unseeded audit_plus_escalate policy that reaches sampling', () => {
    const file = write('audit.json', {
      policy: { type: 'audit_plus_escalate', auditSampleRate: 1 },
    });
    const r = runHitloop(['policy', 'check', '-c', file, '-t', 'x', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'ask', rule: 'audit_sample' });
  });
  it("applies hitloop's built-in protection, as the proxy does", () => {
    const r = runHitloop(
      [
        'policy',
        'check',
        '-c',
        rules,
        '-t',
        'read_file',
        '--args',
        '{"path":"~/.hitloop/hubs/a.json"}',
        '--json',
      ],
      { env: { HOME: dir } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'deny', rule: 'hitloop_protected_path' });
  });
  it("names --server, not the proxy's --name, for an invalid server name", () => {
    const r = runHitloop(['policy', 'check', '-c', rules, '-t', 'x', '-s', 'bad name']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--server: "bad name" has characters other than');
    expect(r.stderr).toContain('fix: use e.g. --server bad-name');
  });
  it('exits 2 for invalid --args JSON or a non-object', () => {
    const invalid = runHitloop([
      'policy',
      'check',
      '-c',
      rules,
      '-t',
      'x',
      '--args',
      "{path: '/tmp'}",
    ]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('--args');
    expect(invalid.stderr).toContain('not valid JSON');
    noStack(invalid.stderr);
    const array = runHitloop(['policy', 'check', '-c', rules, '-t', 'x', '--args', '[1,2]']);
    expect(array.code).toBe(2);
    expect(array.stderr).toContain('expected a JSON object, got an array');
  });
});
