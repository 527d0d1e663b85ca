import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  filesystemServer,
  resultText,
  type StdioProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// `telemetry.required`: a call is forwarded only once its record is on disk.
// The disk really fails here: the proxy runs under `ulimit -f`, so SQLite's
// writes past the limit get EFBIG from the kernel, as on a full disk. The
// proxy is then killed with SIGKILL (no exit hook runs), and the file is
// compared with what the real filesystem server actually did.

let work: { dir: string; remove: () => void };
let root: string;
let db: string;
let proxy: StdioProxy | undefined;

beforeEach(() => {
  work = tempDir('hitloop-required-');
  // The files live outside the proxy's HITLOOP_HOME (work.dir/home): hitloop
  // denies every tool call that names a path in its own home folder.
  root = join(work.dir, 'files');
  mkdirSync(root);
  mkdirSync(join(work.dir, 'home'));
  db = join(work.dir, 'telemetry.db');
});
afterEach(async () => {
  await proxy?.close().catch(() => undefined);
  proxy = undefined;
  work.remove();
});

async function start(ulimitBlocks?: number): Promise<StdioProxy> {
  const config = writeConfig(work.dir, {
    mcpServers: { fs: filesystemServer(root) },
    policy: { type: 'rules', default: 'allow' },
    approval: { backend: 'auto-reject' },
    telemetry: { db, required: true },
  });
  proxy = await startStdioProxy(config, join(work.dir, 'home'), {
    // 512-byte blocks; the upstream server inherits the limit too, and writes tiny files.
    launcher:
      ulimitBlocks === undefined
        ? undefined
        : ['/bin/sh', '-c', `ulimit -f ${ulimitBlocks} && exec "$0" "$@"`],
  });
  return proxy;
}

/** SIGKILL: what is not on disk by now is lost. */
async function kill(p: StdioProxy): Promise<void> {
  process.kill(p.pid, 'SIGKILL');
  await waitUntil(
    () => !existsSync(`/proc/${p.pid}/status`) || isZombie(p.pid),
    'the proxy to die',
  );
}

function isZombie(pid: number): boolean {
  try {
    return /State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** Paths of the write_file calls the file records as started / ended. */
function recorded(): { started: Set<string>; ended: number } {
  const conn = new Database(db);
  try {
    const rows = conn
      .prepare(
        "SELECT event_type, payload FROM trace_events WHERE event_type IN ('tool_execution_start', 'tool_execution_end')",
      )
      .all() as Array<{ event_type: string; payload: string }>;
    const started = new Set<string>();
    let ended = 0;
    for (const r of rows) {
      if (r.event_type === 'tool_execution_end') ended++;
      else started.add(JSON.parse(r.payload).tool_args?.path);
    }
    return { started, ended };
  } finally {
    conn.close();
  }
}

describe('telemetry.required: the record is durable before the call runs', () => {
  it('on a failing disk, every call that ran is on record, and the calls it could not record never ran', async () => {
    const p = await start(400);
    const outcomes: Array<{ path: string; ok: boolean; text: string }> = [];
    for (let i = 0; i < 60; i++) {
      const path = join(root, `f${i}.txt`);
      const r = await p.client.callTool({
        name: 'write_file',
        arguments: { path, content: `call ${i}` },
      });
      outcomes.push({ path, ok: !r.isError, text: resultText(r) });
    }
    await kill(p);

    const ran = outcomes.filter((o) => existsSync(o.path));
    const refused = outcomes.filter((o) => !o.ok);
    // The limit is hit partway: some calls ran, the rest were refused.
    expect(ran.length, JSON.stringify(outcomes.slice(-2))).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    const { started } = recorded();
    for (const o of ran) expect(started.has(o.path), `${o.path} ran without a record`).toBe(true);
    for (const o of refused) {
      expect(existsSync(o.path)).toBe(false);
      expect(o.text).toMatch(/NOT executed/);
      expect(o.text).toMatch(
        /telemetry\.required is set and the record of this call could not be written/,
      );
    }
    // Nothing is on record that did not run.
    for (const path of started) expect(existsSync(path), path).toBe(true);
  });

  it('SIGKILL right after the last answer loses no row of an answered call', async () => {
    const p = await start();
    const paths: string[] = [];
    for (let i = 0; i < 20; i++) {
      const path = join(root, `k${i}.txt`);
      paths.push(path);
      const r = await p.client.callTool({ name: 'write_file', arguments: { path, content: 'x' } });
      expect(r.isError).toBeFalsy();
    }
    await kill(p);
    const { started, ended } = recorded();
    expect([...started].sort()).toEqual([...paths].sort());
    expect(ended).toBe(20);
  });
});
