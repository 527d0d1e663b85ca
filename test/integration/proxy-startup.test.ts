import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  childProcesses,
  FILESYSTEM,
  initializeRequest,
  PROXY_ENTRY,
  type RawProxy,
  startRawProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// Real MCP clients start the proxy and wait for its initialize answer; Claude
// Code -p and Codex use whatever tools are listed by the time the model asks.
// The proxy therefore starts a `-- COMMAND` server before loading itself, and
// can be told to answer initialize without waiting for slow servers.

let work: { dir: string; remove: () => void };
const proxies: RawProxy[] = [];

beforeEach(() => {
  work = tempDir('hitloop-startup-');
});
afterEach(() => {
  for (const p of proxies) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  proxies.length = 0;
  work.remove();
});

/** `hitloop proxy ARGS` (no config file unless ARGS name one), driven with raw JSON-RPC. */
function start(args: string[]): RawProxy {
  const proxy = startRawProxy(undefined, work.dir, args);
  proxies.push(proxy);
  return proxy;
}

/** initialize, then notifications/initialized; the initialize answer. */
async function handshake(proxy: RawProxy) {
  proxy.send(initializeRequest(1));
  const init = await proxy.next((m) => m.id === 1);
  proxy.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return init;
}

/** The names tools/list gives now. */
async function toolNames(proxy: RawProxy, id: number): Promise<string[]> {
  proxy.send({ jsonrpc: '2.0', id, method: 'tools/list' });
  const list = await proxy.next((m) => m.id === id);
  return (list.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
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
    expect((await handshake(proxy)).result).toBeDefined();
    expect(await toolNames(proxy, 2)).toContain('write_file');
    // Adopted, not started a second time.
    expect(serverOf(proxy.child.pid!).map((s) => s.pid)).toEqual([early!.pid]);
    expect(await proxy.close()).toBe(0);
    await waitUntil(() => !alive(early!.pid), 'the server to stop with the proxy');
  });

  it('a client that leaves before initialize leaves no server behind', async () => {
    const proxy = start(['--', process.execPath, FILESYSTEM, work.dir]);
    const [early] = await waitUntil(() => {
      const s = serverOf(proxy.child.pid!);
      return s.length ? s : undefined;
    }, 'the server process');
    expect(await proxy.close()).toBe(0);
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
    await handshake(proxy);
    await waitUntil(
      () => proxy.stderr.text.includes('MODULE_NOT_FOUND'),
      "node's own error in the proxy's report",
    );
    expect(proxy.stderr.text).toMatch(/exited with status 1\. Last stderr output:/);
    await proxy.close();
  });

  it('a word before -- that joins the command does not leave a second, unused server running', async () => {
    // commander reads `node` as the start of the command: the proxy runs `node FILESYSTEM dir`.
    const proxy = start(['node', '--', FILESYSTEM, work.dir]);
    await handshake(proxy);
    await toolNames(proxy, 2);
    await waitUntil(
      () => serverOf(proxy.child.pid!).length === 1,
      'exactly one server process (the early, unmatched one stopped)',
    );
    await proxy.close();
  });

  it('a server that cannot be started is reported, as without the early start', async () => {
    const proxy = start(['--log-level', 'warn', '--', 'no-such-command-hitloop-test']);
    await handshake(proxy);
    proxy.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'anything', arguments: {} },
    });
    const answer = await proxy.next((m) => m.id === 2);
    expect(JSON.stringify(answer)).toContain('Unknown tool');
    await waitUntil(() => proxy.stderr.text.includes('ENOENT'), 'the spawn error in the log');
    await proxy.close();
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
    await handshake(proxy);
    expect(await toolNames(proxy, 2)).toEqual(['approve']);
    await proxy.next((m) => m.method === 'notifications/tools/list_changed');
    const later = await toolNames(proxy, 3);
    expect(later).toContain('approve');
    expect(later).toContain('write_file');
    await proxy.close();
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
    await handshake(proxy);
    expect(await toolNames(proxy, 2)).toContain('write_file');
    await proxy.close();
  });
});
