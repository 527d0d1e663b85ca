import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  filesystemServer,
  type StdioProxy,
  startStdioProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';

// `hitloop policy check` must print the decision the proxy really makes. For
// each config, the real proxy (in front of the real filesystem server) gets
// the calls; its telemetry records the verdict and rule of each; then
// `hitloop policy check` is asked about the same config and call, with the
// annotations the proxy listed for the tool, and must answer the same.

const tmp = tempDir('hitloop-agree-');
const root = join(tmp.dir, 'files');
// Inside the filesystem server's root, so only hitloop's protection stops a read.
const home = join(root, 'hitloop-home');
mkdirSync(join(home, 'hubs'), { recursive: true });
writeFileSync(join(home, 'hubs', 'hub-1.json'), '{"token":"not-for-agents"}');
writeFileSync(join(root, 'a.txt'), 'hello');
afterAll(() => tmp.remove());

interface Call {
  name: string;
  args: Record<string, unknown>;
  /** What the proxy is expected to decide (also checked, so a case cannot pass vacuously). */
  expect: { verdict: string; rule: string };
}

interface Case {
  title: string;
  /** The config file's text (JSONC allowed), servers added by `file`. */
  file: (telemetryDb: string) => string;
  calls: Call[];
}

const fs = filesystemServer(root);
const json = (value: unknown) => JSON.stringify(value, null, 2);

const cases: Case[] = [
  {
    title: 'two servers (prefixed names), JSONC, rules with server and tool',
    file: (db) => `// JSONC: comments and trailing commas, as VS Code writes them
{
  "mcpServers": { "fs": ${json(fs)}, "fs2": ${json(fs)}, },
  /* fs may write, fs2 may not */
  "policy": {
    "type": "rules",
    "default": "ask",
    "rules": [
      { "id": "fs-writes", "tool": "write_file", "server": "fs", "effect": "allow" },
      { "id": "no-fs2-writes", "tool": "fs2__write_*", "effect": "deny" },
    ],
  },
  "approval": { "backend": "auto-reject" },
  "telemetry": { "db": ${JSON.stringify(db)}, "required": true },
}`,
    calls: [
      {
        name: 'fs__write_file',
        args: { path: join(root, 'b.txt'), content: 'x' },
        expect: { verdict: 'allow', rule: 'fs-writes' },
      },
      {
        name: 'fs2__write_file',
        args: { path: join(root, 'c.txt'), content: 'x' },
        expect: { verdict: 'deny', rule: 'no-fs2-writes' },
      },
      {
        name: 'fs__list_directory',
        args: { path: root },
        expect: { verdict: 'ask', rule: 'default' },
      },
      {
        name: 'fs2__read_text_file',
        args: { path: join(home, 'hubs', 'hub-1.json') },
        expect: { verdict: 'deny', rule: 'hitloop_protected_path' },
      },
    ],
  },
  {
    title: 'no policy key: the default policy (every call asks)',
    file: (db) =>
      json({
        mcpServers: { fs },
        approval: { backend: 'auto-reject' },
        telemetry: { db, required: true },
      }),
    calls: [
      {
        name: 'read_text_file',
        args: { path: join(root, 'a.txt') },
        expect: { verdict: 'ask', rule: 'default' },
      },
    ],
  },
  {
    title: 'unseeded audit_plus_escalate that samples every call',
    file: (db) =>
      json({
        mcpServers: { fs },
        policy: { type: 'audit_plus_escalate', auditSampleRate: 1, consecutiveActionThreshold: 0 },
        approval: { backend: 'auto-reject' },
        telemetry: { db, required: true },
      }),
    calls: [
      {
        name: 'read_text_file',
        args: { path: join(root, 'a.txt') },
        expect: { verdict: 'ask', rule: 'audit_sample' },
      },
    ],
  },
  {
    title: "a trusted server's annotations set the risk",
    file: (db) =>
      json({
        mcpServers: { fs: { ...fs, hitloop: { trusted: true } } },
        policy: {
          type: 'rules',
          default: 'deny',
          rules: [
            { id: 'low-runs', risk: 'low', effect: 'allow' },
            { id: 'high-asks', risk: 'high', effect: 'ask' },
          ],
        },
        approval: { backend: 'auto-reject' },
        telemetry: { db, required: true },
      }),
    calls: [
      {
        name: 'read_text_file',
        args: { path: join(root, 'a.txt') },
        expect: { verdict: 'allow', rule: 'low-runs' },
      },
      {
        name: 'write_file',
        args: { path: join(root, 'd.txt'), content: 'x' },
        expect: { verdict: 'ask', rule: 'high-asks' },
      },
      {
        name: 'create_directory',
        args: { path: join(root, 'sub') },
        expect: { verdict: 'deny', rule: 'default' },
      },
    ],
  },
];

/** The verdict and rule of every action the proxy judged, in order. */
function proxyDecisions(db: string): Array<{ verdict: string; rule: string }> {
  const handle = new Database(db, { readonly: true });
  try {
    const rows = handle
      .prepare("SELECT payload FROM trace_events WHERE event_type = 'action_proposed' ORDER BY id")
      .all() as Array<{ payload: string }>;
    return rows.map((r) => {
      const p = JSON.parse(r.payload) as { policy_verdict: string; policy_rule: string };
      return { verdict: p.policy_verdict, rule: p.policy_rule };
    });
  } finally {
    handle.close();
  }
}

describe('hitloop policy check gives the decision the proxy makes', () => {
  cases.forEach((c, i) => {
    it(c.title, async () => {
      const db = join(tmp.dir, `telemetry-${i}.db`);
      const file = join(tmp.dir, `config-${i}.jsonc`);
      writeFileSync(file, c.file(db));
      let proxy: StdioProxy | undefined;
      const annotations = new Map<string, unknown>();
      try {
        proxy = await startStdioProxy(file, home);
        for (const tool of (await proxy.client.listTools()).tools)
          annotations.set(tool.name, tool.annotations);
        for (const call of c.calls)
          await proxy.client.callTool({ name: call.name, arguments: call.args });
      } finally {
        await proxy?.close();
      }
      const byProxy = proxyDecisions(db);
      expect(byProxy).toEqual(c.calls.map((call) => call.expect));
      const byCheck = c.calls.map((call) => {
        const listed = annotations.get(call.name);
        const r = runHitloop(
          [
            'policy',
            'check',
            '--config',
            file,
            '--tool',
            call.name,
            '--args',
            JSON.stringify(call.args),
            ...(listed ? ['--annotations', JSON.stringify(listed)] : []),
            '--json',
          ],
          { env: { HITLOOP_HOME: home } },
        );
        expect(r.code, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout) as { verdict: string; rule: string };
        return { verdict: out.verdict, rule: out.rule };
      });
      expect(byCheck).toEqual(byProxy);
    });
  });

  it('a file with only hitloop sections reads as `proxy --config FILE -- COMMAND`, with --server as its name', () => {
    const file = writeConfig(
      tmp.dir,
      {
        policy: { rules: [{ tool: 'write_file', server: 'fs', effect: 'allow' }] },
      },
      'settings.json',
    );
    const check = (...extra: string[]) =>
      JSON.parse(
        runHitloop(['policy', 'check', '-c', file, '-t', 'write_file', '--json', ...extra], {
          env: { HITLOOP_HOME: home },
        }).stdout,
      ) as { verdict: string; server: string };
    expect(check('--server', 'fs')).toMatchObject({ verdict: 'allow', server: 'fs' });
    expect(check()).toMatchObject({ verdict: 'ask', server: 'upstream' });
  });

  it('a prefixed name of no known server, or a bare one, is an error naming the fix', () => {
    const file = join(tmp.dir, 'two-servers.jsonc');
    writeFileSync(file, cases[0]!.file(join(tmp.dir, 'unused.db')));
    for (const tool of ['write_file', 'nope__write_file']) {
      const r = runHitloop(['policy', 'check', '-c', file, '-t', tool], {
        env: { HITLOOP_HOME: home },
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--tool');
      expect(r.stderr).toContain('fix: give the name the client sees, e.g. --tool fs__write_file');
    }
  });
});
