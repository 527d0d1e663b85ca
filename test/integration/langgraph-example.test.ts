import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discoverHubs } from '../../shared/hub/discovery.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const example = fileURLToPath(new URL('../../dist/examples/langgraph-agent.js', import.meta.url));

function eventTypes(db: string): string[] {
  const conn = new Database(db, { readonly: true });
  const types = conn
    .prepare('select event_type from trace_events order by id')
    .pluck()
    .all() as string[];
  conn.close();
  return types;
}

describe('examples/langgraph-agent --simulate', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('hitloop-lgex-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('--auto: interrupts on send_email, resumes with accept, logs each event once', () => {
    const db = join(dir, 't.db');
    const r = spawnSync(process.execPath, [example, '--simulate', '--auto', '--db', db], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('✓ send_email: sent to ana@example.com');
    const types = eventTypes(db);
    expect(types.filter((t) => t === 'action_proposed')).toHaveLength(2);
    expect(types.filter((t) => t === 'approval_requested')).toHaveLength(1);
    expect(types.filter((t) => t === 'approval_decided')).toHaveLength(1);
    expect(types.filter((t) => t === 'tool_execution_end')).toHaveLength(2);
  });

  it('cli: a rejection at the terminal reaches the model as NOT executed', () => {
    const db = join(dir, 't.db');
    const r = spawnSync(process.execPath, [example, '--simulate', '--db', db], {
      encoding: 'utf8',
      input: 'r\nnot now\n',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "✗ send_email: Tool 'send_email' was NOT executed: rejected by langgraph:reviewer. Reason: not now.",
    );
  });

  it('--channel vscode: the request appears on the hub and a hub decision resumes it', async () => {
    const db = join(dir, 't.db');
    const home = join(dir, 'home');
    const child = spawn(
      process.execPath,
      [example, '--simulate', '--channel', 'vscode', '--db', db],
      {
        env: { ...process.env, HITLOOP_HOME: home },
      },
    );
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      let client: HubClient | undefined;
      for (let i = 0; i < 300 && !client; i++) {
        const [hub] = discoverHubs(home);
        if (hub) client = new HubClient(hub);
        else await new Promise((r) => setTimeout(r, 20));
      }
      if (!client) throw new Error('the example announced no hub');
      let pending = await client.listPending();
      for (let i = 0; i < 300 && pending.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        pending = await client.listPending();
      }
      const [record] = pending;
      expect(record?.tool).toBe('send_email');
      await client.decide(record?.id ?? '', {
        approve: true,
        argsHash: record?.argsHash ?? '',
        decidedBy: 'test:carol',
      });
      expect(await exited).toBe(0);
      expect(stdout).toContain('✓ send_email: sent to ana@example.com');
    } finally {
      child.kill();
    }
  });
});

const lcExample = fileURLToPath(new URL('../../dist/examples/langchain-agent.js', import.meta.url));

describe('examples/langchain-agent --simulate (createAgent + hitloopMiddleware)', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('hitloop-lcex-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('--auto: one HITLRequest for both emails, both approved, each sent and logged once', () => {
    const db = join(dir, 't.db');
    const r = spawnSync(process.execPath, [lcExample, '--simulate', '--auto', '--db', db], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('✓ send_email: sent to ana@example.com');
    expect(r.stdout).toContain('✓ send_email: sent to bob@example.com');
    const types = eventTypes(db);
    expect(types.filter((t) => t === 'approval_requested')).toHaveLength(2);
    expect(types.filter((t) => t === 'approval_decided')).toHaveLength(2);
    expect(types.filter((t) => t === 'tool_execution_end')).toHaveLength(2);
  });

  it('terminal: approve one, reject the other; only the approved one is sent', () => {
    const db = join(dir, 't.db');
    const r = spawnSync(process.execPath, [lcExample, '--simulate', '--db', db], {
      encoding: 'utf8',
      input: 'a\nr\nnot bob\n',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('✓ send_email: sent to ana@example.com');
    expect(r.stdout).toMatch(/✗ send_email: Tool 'send_email' was NOT executed: .*not bob/);
    expect(eventTypes(db).filter((t) => t === 'tool_execution_end')).toHaveLength(1);
  });
});
