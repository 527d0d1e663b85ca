import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  filesystemServer,
  resultText,
  type StdioProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// An agent with a file tool the policy allows everywhere must not be able to
// read a hub's discovery file, take its token and approve its own calls. The
// real proxy, with its real approval hub, in front of the real filesystem
// server whose root contains HITLOOP_HOME; the policy allows every call.

const tmp = tempDir('hitloop-self-');
const root = join(tmp.dir, 'root');
const home = join(root, 'hitloop-home');
const telemetryDb = join(tmp.dir, 'telemetry.db');
let proxy: StdioProxy;
let hubFile: string;
let token: string;

function config(name: string, proxySection: Record<string, unknown> = {}) {
  return writeConfig(
    root,
    {
      // The server runs in `root`, so relative paths start there, as hitloop assumes.
      mcpServers: { fs: { ...filesystemServer(root), cwd: root } },
      policy: { type: 'always_approve' },
      approval: { backend: 'hub' },
      telemetry: { db: telemetryDb, required: true },
      proxy: proxySection,
    },
    name,
  );
}

beforeAll(async () => {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(root, 'notes.txt'), 'ordinary file');
  proxy = await startStdioProxy(config('hitloop.json'), home);
  const hubsDir = join(home, 'hubs');
  const name = await waitUntil(
    () => (existsSync(hubsDir) ? readdirSync(hubsDir).find((n) => n.endsWith('.json')) : undefined),
    'the hub discovery file',
  );
  hubFile = join(hubsDir, name);
  token = (JSON.parse(readFileSync(hubFile, 'utf8')) as { token: string }).token;
  expect(token.length).toBeGreaterThan(16);
  symlinkSync(hubFile, join(root, 'innocent.json'));
  symlinkSync(home, join(root, 'home-link'));
});

afterAll(async () => {
  await proxy?.close();
  tmp.remove();
});

const read = (path: string) =>
  proxy.client.callTool({ name: 'read_text_file', arguments: { path } });

/**
 * Whether the server was asked to run the call on `path`, from telemetry
 * (written off the call's path, so this waits for the call's events).
 */
async function executed(path: string, outcome: 'denied' | 'ran'): Promise<boolean> {
  const events = () => {
    const db = new Database(telemetryDb, { readonly: true });
    try {
      return db
        .prepare('SELECT event_type, payload FROM trace_events ORDER BY id')
        .all()
        .map((r) => {
          const row = r as { event_type: string; payload: string };
          const payload = JSON.parse(row.payload) as {
            action_id: string;
            tool_args?: { path?: string };
          };
          return { type: row.event_type, payload };
        });
    } finally {
      db.close();
    }
  };
  // A denied call has one event; a call that ran also its start and end.
  const mine = await waitUntil(() => {
    const all = events();
    const proposed = all.find(
      (e) => e.type === 'action_proposed' && e.payload.tool_args?.path === path,
    );
    if (!proposed) return undefined;
    const own = all.filter((e) => e.payload.action_id === proposed.payload.action_id);
    if (outcome === 'ran' && !own.some((e) => e.type === 'tool_execution_end')) return undefined;
    return own;
  }, `telemetry of the call on ${path}`);
  return mine.some((e) => e.type === 'tool_execution_start');
}

describe('hitloop protects its own files from the tools it gates', () => {
  it('a read of the hub discovery file is denied by the built-in rule, and nothing is read', async () => {
    const result = await read(hubFile);
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toContain('was NOT executed');
    expect(text).toContain('hitloop_protected_path');
    expect(text).toContain("hitloop's built-in protection, not the user's policy");
    expect(text).toContain("inside hitloop's home folder (HITLOOP_HOME)");
    expect(text).not.toContain(token);
    expect(await executed(hubFile, 'denied')).toBe(false);
  });

  it('an ordinary file in the same root still reads', async () => {
    const path = join(root, 'notes.txt');
    const result = await read(path);
    expect(result.isError).toBeFalsy();
    expect(resultText(result)).toContain('ordinary file');
    expect(await executed(path, 'ran')).toBe(true);
  });

  it('other spellings are denied too: symlinks to the file or its folder, relative, ..', async () => {
    for (const path of [
      join(root, 'innocent.json'),
      join(root, 'home-link', 'hubs', relative(join(home, 'hubs'), hubFile)),
      relative(root, hubFile),
      join(root, 'notes.txt', '..', relative(root, hubFile)),
    ]) {
      const result = await read(path);
      expect(result.isError, path).toBe(true);
      expect(resultText(result)).toContain('hitloop_protected_path');
      expect(resultText(result)).not.toContain(token);
    }
  });

  it('the config file, telemetry database and a multi-file read are covered', async () => {
    for (const [name, args] of [
      ['read_text_file', { path: join(root, 'hitloop.json') }],
      ['read_text_file', { path: `${telemetryDb}-wal` }],
      ['read_multiple_files', { paths: [join(root, 'notes.txt'), join(root, 'innocent.json')] }],
      ['move_file', { source: join(root, 'notes.txt'), destination: join(home, 'notes.txt') }],
    ] as const) {
      const result = await proxy.client.callTool({ name, arguments: args });
      expect(result.isError, JSON.stringify(args)).toBe(true);
      expect(resultText(result)).toContain('hitloop_protected_path');
    }
  });

  it("Claude Code's permission prompt for its own Read of a hub file is denied too", async () => {
    const prompts = await startStdioProxy(config('prompts.json'), home, {
      extraArgs: ['--permission-prompt'],
    });
    try {
      const result = await prompts.client.callTool({
        name: 'approve',
        arguments: { tool_name: 'Read', input: { file_path: hubFile }, tool_use_id: 't1' },
      });
      const answer = JSON.parse(resultText(result)) as { behavior: string; message: string };
      expect(answer.behavior).toBe('deny');
      expect(answer.message).toContain('hitloop_protected_path');
    } finally {
      await prompts.close();
    }
  });

  it('with proxy.protectHitloopFiles: false the same read runs (the documented opt-out)', async () => {
    const open = await startStdioProxy(
      config('unprotected.json', { protectHitloopFiles: false }),
      home,
    );
    try {
      const result = await open.client.callTool({
        name: 'read_text_file',
        arguments: { path: join(root, 'innocent.json') },
      });
      expect(result.isError).toBeFalsy();
      // Exactly what the protection is for: the token is now in the agent's hands.
      expect(resultText(result)).toContain(token);
      await open.stderr.waitFor(/protectHitloopFiles is false/);
    } finally {
      await open.close();
    }
  });
});
