import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  childProcesses,
  FILESYSTEM,
  initializeRequest,
  OutputLog,
  PROXY_ENTRY,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// Real MCP clients start the proxy and wait for its initialize answer; Claude
// Code -p and Codex use whatever tools are listed by the time the model asks.
// The proxy therefore starts a `-- COMMAND` server before loading itself, and
// can be told to answer initialize without waiting for slow servers.

let work: { dir: string; remove: () => void };
const children: ChildProcess[] = [];

beforeEach(() => {
  work = tempDir('hitloop-startup-');
});
afterEach(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.length = 0;
  work.remove();
});

interface Proxy {
  child: ChildProcess;
  stderr: OutputLog;
  send(m: Record<string, unknown>): void;
  next(filter: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function start(args: string[]): Proxy {
  const child = spawn(process.execPath, [PROXY_ENTRY, 'proxy', ...args], {
    env: { ...process.env, HITLOOP_HOME: work.dir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const stderr = new OutputLog();
  stderr.attach(child.stderr!);
  const received: Array<Record<string, unknown>> = [];
  const waiters: Array<{ f: (m: Record<string, unknown>) => boolean; r: (m: never) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as Record<string, unknown>;
    const w = waiters.findIndex((x) => x.f(m));
    if (w >= 0) waiters.splice(w, 1)[0]!.r(m as never);
    else received.push(m);
  });
  return {
    child,
    stderr,
    send: (m) => child.stdin!.write(`${JSON.stringify(m)}\n`),
    next: (f) => {
      const i = received.findIndex(f);
      if (i >= 0) return Promise.resolve(received.splice(i, 1)[0]!);
      return new Promise((r) => waiters.push({ f, r }));
    },
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
}

const serverOf = (pid: number) => childProcesses(pid).filter((c) => c.cmdline.includes(FILESYSTEM));
const alive = (pid: number) => existsSync(`/proc/${pid}`);

describe('proxy start-up', () => {
  it('starts the server of `proxy -- COMMAND` before the client initializes, and uses that process', async () => {
    const proxy = start(['--', process.execPath, FILESYSTEM, work.dir]);
    // Nothing has been sent: the server is already running.
    const [early] = await waitUntil(() => {
      const s = serverOf(proxy.child.pid!);
      return s.length ? s : undefined;
    }, 'the server process before initialize');
    proxy.send(initializeRequest(1));
    const init = await proxy.next((m) => m.id === 1);
    expect(init.result).toBeDefined();
    proxy.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    proxy.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const list = await proxy.next((m) => m.id === 2);
    const names = ((list.result as { tools: Array<{ name: string }> }).tools ?? []).map(
      (t) => t.name,
    );
    expect(names).toContain('write_file');
    // Adopted, not started a second time.
    expect(serverOf(proxy.child.pid!).map((s) => s.pid)).toEqual([early!.pid]);
    proxy.child.stdin!.end();
    expect(await proxy.exited).toBe(0);
    await waitUntil(() => !alive(early!.pid), 'the server to stop with the proxy');
  });

  it('a client that leaves before initialize leaves no server behind', async () => {
    const proxy = start(['--', process.execPath, FILESYSTEM, work.dir]);
    const [early] = await waitUntil(() => {
      const s = serverOf(proxy.child.pid!);
      return s.length ? s : undefined;
    }, 'the server process');
    proxy.child.stdin!.end();
    expect(await proxy.exited).toBe(0);
    await waitUntil(() => !alive(early!.pid), 'the early server to be stopped');
  });

  it('a config error after the early start exits 2 at once, and stops the server', () => {
    const bad = writeConfig(work.dir, { policy: { type: 'nope' } }, 'bad.json');
    const r = spawnSync(
      process.execPath,
      [PROXY_ENTRY, 'proxy', '--config', bad, '--', process.execPath, FILESYSTEM, work.dir],
      { env: { ...process.env, HITLOOP_HOME: work.dir }, encoding: 'utf8', timeout: 15_000 },
    );
    // A process left running would hold the pipes open: the CLI would hang, not exit.
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('policy.type');
  });

  it('a config error exits at once even when the early server ignores SIGTERM', () => {
    const stubborn = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)";
    const r = spawnSync(
      process.execPath,
      [PROXY_ENTRY, 'proxy', '--timeout', '0', '--', process.execPath, '-e', stubborn],
      { env: { ...process.env, HITLOOP_HOME: work.dir }, encoding: 'utf8', timeout: 15_000 },
    );
    expect(r.signal).toBeNull(); // not killed by the timeout: it exited by itself
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--timeout');
  });

  it('a server that dies at start-up before it is adopted still has its stderr reported', async () => {
    const proxy = start(['--log-level', 'warn', '--', process.execPath, '/nonexistent/server.js']);
    // Let it die before the client asks anything.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    proxy.send(initializeRequest(1));
    await proxy.next((m) => m.id === 1);
    await waitUntil(
      () => proxy.stderr.text.includes('MODULE_NOT_FOUND'),
      "node's own error in the proxy's report",
    );
    expect(proxy.stderr.text).toMatch(/exited with status 1\. Last stderr output:/);
    proxy.child.stdin!.end();
    await proxy.exited;
  });

  it('a word before -- that joins the command does not leave a second, unused server running', async () => {
    // commander reads `node` as the start of the command: the proxy runs `node FILESYSTEM dir`.
    const proxy = start(['node', '--', FILESYSTEM, work.dir]);
    proxy.send(initializeRequest(1));
    await proxy.next((m) => m.id === 1);
    proxy.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    proxy.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    await proxy.next((m) => m.id === 2);
    await waitUntil(
      () => serverOf(proxy.child.pid!).length === 1,
      'exactly one server process (the early, unmatched one stopped)',
    );
    proxy.child.stdin!.end();
    await proxy.exited;
  });

  it('a server that cannot be started is reported, as without the early start', async () => {
    const proxy = start(['--log-level', 'warn', '--', 'no-such-command-hitloop-test']);
    proxy.send(initializeRequest(1));
    await proxy.next((m) => m.id === 1);
    proxy.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    proxy.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'anything', arguments: {} },
    });
    const answer = await proxy.next((m) => m.id === 2);
    expect(JSON.stringify(answer)).toContain('Unknown tool');
    await waitUntil(() => proxy.stderr.text.includes('ENOENT'), 'the spawn error in the log');
    proxy.child.stdin!.end();
    await proxy.exited;
  });

  it('initializeWaitMs 0: answers at once with its own tools; a slow server joins by tools/list_changed', async () => {
    const config = writeConfig(work.dir, {
      mcpServers: {
        // Takes 2 s to start, as an `npx -y` server often does.
        slow: {
          command: 'sh',
          args: ['-c', `sleep 2; exec "${process.execPath}" "${FILESYSTEM}" "${work.dir}"`],
        },
      },
      policy: { type: 'always_approve' },
      proxy: { initializeWaitMs: 0, permissionPrompt: true, prefixNames: false },
      telemetry: { db: false },
    });
    const proxy = start(['--config', config]);
    proxy.send(initializeRequest(1));
    await proxy.next((m) => m.id === 1);
    proxy.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    proxy.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const first = await proxy.next((m) => m.id === 2);
    const firstNames = (first.result as { tools: Array<{ name: string }> }).tools.map(
      (t) => t.name,
    );
    expect(firstNames).toEqual(['approve']);
    await proxy.next((m) => m.method === 'notifications/tools/list_changed');
    proxy.send({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
    const later = await proxy.next((m) => m.id === 3);
    const laterNames = (later.result as { tools: Array<{ name: string }> }).tools.map(
      (t) => t.name,
    );
    expect(laterNames).toContain('approve');
    expect(laterNames).toContain('write_file');
    proxy.child.stdin!.end();
    await proxy.exited;
  });

  it('by default initialize waits for a slow server, so its tools are in the first list', async () => {
    const config = writeConfig(work.dir, {
      mcpServers: {
        slow: {
          command: 'sh',
          args: ['-c', `sleep 1; exec "${process.execPath}" "${FILESYSTEM}" "${work.dir}"`],
        },
      },
      policy: { type: 'always_approve' },
      telemetry: { db: false },
    });
    const proxy = start(['--config', config]);
    proxy.send(initializeRequest(1));
    await proxy.next((m) => m.id === 1);
    proxy.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    proxy.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const list = await proxy.next((m) => m.id === 2);
    const names = (list.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
    expect(names).toContain('write_file');
    proxy.child.stdin!.end();
    await proxy.exited;
  });
});
