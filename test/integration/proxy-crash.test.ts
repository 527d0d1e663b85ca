import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  childProcesses,
  deferred,
  EVERYTHING,
  everythingServer,
  filesystemServer,
  initializeRequest,
  resultText,
  type StdioProxy,
  startRawProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// An upstream server that crashes: its calls fail with a clear error naming
// the server and how it died, the other server keeps working, and the crashed
// one comes back after a backoff. A server that cannot start never blocks
// start-up.

const tmp = tempDir();
const root = join(tmp.dir, 'files');
let proxy: StdioProxy;

beforeAll(async () => {
  mkdirSync(root);
  const config = writeConfig(tmp.dir, {
    mcpServers: {
      everything: everythingServer(),
      fs: filesystemServer(root),
      broken: {
        command: process.execPath,
        args: ['-e', "console.error('boom: missing API key'); process.exit(3)"],
      },
    },
    policy: { type: 'always_approve' },
    approval: { backend: 'auto-reject' },
    telemetry: { db: join(tmp.dir, 'telemetry.db') },
    proxy: { prefixNames: true, startupTimeoutMs: 10_000 },
  });
  proxy = await startStdioProxy(config, tmp.dir);
});

afterAll(async () => {
  await proxy?.close();
  tmp.remove();
});

function everythingPid(): number | undefined {
  return childProcesses(proxy.pid).find((c) => c.cmdline.includes(EVERYTHING))?.pid;
}

const echo = (message: string) =>
  proxy.client.callTool({ name: 'everything__echo', arguments: { message } });

describe('hitloop proxy: lifecycle', () => {
  it('exits and stops its servers when the stdio client closes stdin', async () => {
    const config = writeConfig(
      tmp.dir,
      {
        mcpServers: { everything: everythingServer() },
        policy: { type: 'always_approve' },
        approval: { backend: 'auto-reject' },
        telemetry: { db: false },
      },
      'lifecycle.json',
    );
    const raw = startRawProxy(config, tmp.dir);
    raw.send(initializeRequest(1));
    await raw.next((m) => m.id === 1);
    const server = await waitUntil(
      () => childProcesses(raw.child.pid!).find((c) => c.cmdline.includes(EVERYTHING)),
      'the upstream server process',
    );
    const exited = new Promise<number | null>((resolve) => raw.child.once('exit', resolve));
    raw.child.stdin!.end();
    expect(await exited).toBe(0);
    await waitUntil(() => {
      try {
        process.kill(server.pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the upstream server to exit');
  });
});

describe('hitloop proxy: upstream failures', () => {
  it('a server that exits at start-up does not block the others, and the log says why', async () => {
    // initialize has already returned (beforeAll): start-up did not hang.
    expect(resultText(await echo('up'))).toBe('Echo: up');
    await proxy.stderr.waitFor(/upstream server 'broken' exited with status 3/);
    await proxy.stderr.waitFor(/boom: missing API key/);
    const { tools } = await proxy.client.listTools();
    expect(tools.some((t) => t.name.startsWith('broken__'))).toBe(false);
  });

  it('a server that never answers initialize is reported as such, not as the SIGTERM that stops it', async () => {
    const config = writeConfig(
      tmp.dir,
      {
        mcpServers: {
          everything: everythingServer(),
          // Reads its stdin and never answers, nor exits on EOF.
          silent: {
            command: process.execPath,
            args: ['-e', 'process.stdin.resume(); setInterval(() => {}, 1e6)'],
          },
        },
        policy: { type: 'always_approve' },
        approval: { backend: 'auto-reject' },
        telemetry: { db: false },
        proxy: { prefixNames: true, startupTimeoutMs: 500, logLevel: 'info' },
      },
      'silent.json',
    );
    const silent = await startStdioProxy(config, tmp.dir);
    try {
      // Closing a server that ignores EOF ends in SIGTERM 2 s later. From the
      // fourth attempt on, the restart backoff (4 s) outlasts that, so the
      // SIGTERM is seen while the server is down: it must not replace the reason.
      const timeouts = () =>
        silent.stderr.text.match(/upstream server 'silent' did not answer initialize within 0.5 s/g)
          ?.length ?? 0;
      await waitUntil(() => timeouts() >= 4, 'four timed-out handshakes', 15_000);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(silent.stderr.text).not.toMatch(/'silent' was killed by SIGTERM/);
    } finally {
      await silent.close();
    }
  });

  it('a crash fails the calls in flight and later calls with the server name and signal; fs keeps working; then it restarts', async () => {
    const pid = await waitUntil(everythingPid, 'the everything server process');
    const listChanged = deferred();
    proxy.client.setNotificationHandler(ToolListChangedNotificationSchema, () =>
      listChanged.resolve(),
    );

    // A long call in flight when the server dies; its first progress
    // notification (forwarded by the proxy) says it is running.
    const running = deferred();
    const inFlight = proxy.client.callTool(
      {
        name: 'everything__trigger-long-running-operation',
        arguments: { duration: 20, steps: 100 },
      },
      undefined,
      { onprogress: () => running.resolve() },
    );
    await running.promise;
    process.kill(pid, 'SIGKILL');

    const failed = await inFlight;
    expect(failed.isError).toBe(true);
    expect(resultText(failed)).toContain("upstream server 'everything' was killed by SIGKILL");
    expect(resultText(failed)).toContain('may not have completed');

    // While it is down (or restarting): a clear error, and the other server is fine.
    const down = await echo('are you there?');
    if (down.isError) {
      expect(resultText(down)).toMatch(
        /upstream server 'everything' (was killed by SIGKILL|is still starting)/,
      );
    }
    const fsResult = await proxy.client.callTool({
      name: 'fs__list_allowed_directories',
      arguments: {},
    });
    expect(fsResult.isError).toBeFalsy();
    expect(resultText(fsResult)).toContain(root);
    await listChanged.promise; // the client was told the tool list changed

    // After the backoff it is back, as a new process.
    const back = await waitUntil(async () => {
      const r = await echo('back');
      return r.isError ? undefined : r;
    }, 'the everything server to restart');
    expect(resultText(back)).toBe('Echo: back');
    const newPid = everythingPid();
    expect(newPid).toBeDefined();
    expect(newPid).not.toBe(pid);
    await proxy.stderr.waitFor(/restarting server 'everything' in [\d.]+ s/);
  });

  it('a call made while the server is down names the server and its exit', async () => {
    const pid = await waitUntil(everythingPid, 'the everything server process');
    const died = proxy.stderr.text.split('\n').length;
    process.kill(pid, 'SIGKILL');
    // Wait for the proxy to notice (its log says so), then call before the restart.
    await waitUntil(
      () =>
        proxy.stderr.text
          .split('\n')
          .slice(died - 1)
          .some((l) => /upstream server 'everything' was killed by SIGKILL/.test(l)),
      'the proxy to notice the crash',
    );
    const down = await echo('now?');
    expect(down.isError).toBe(true);
    expect(resultText(down)).toContain("upstream server 'everything' was killed by SIGKILL");
    // ...and the tail of its stderr (server-everything announces itself there).
    expect(resultText(down)).toMatch(/Last stderr output:\n.*Starting default \(STDIO\) server/);
    await waitUntil(async () => !(await echo('again')).isError, 'the second restart');
  });
});
