import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  resultText,
  type StdioProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// An allowed call whose server never answers must not wait forever: after
// the execution timeout the agent gets a tool error saying so (the call may
// still be running), and the server gets notifications/cancelled. The hung
// server is a small fixture (a real MCP SDK server whose `hang` tool never
// returns); the proxy and client are the real ones.

const HANGING = fileURLToPath(new URL('../fixtures/hanging-server.mjs', import.meta.url));

let work: { dir: string; remove: () => void };
let proxy: StdioProxy | undefined;

beforeEach(() => {
  work = tempDir('hitloop-exec-timeout-');
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  work.remove();
});

async function start(proxySection: Record<string, unknown>) {
  const db = join(work.dir, 'telemetry.db');
  const config = writeConfig(work.dir, {
    mcpServers: { slow: { command: process.execPath, args: [HANGING] } },
    policy: { type: 'rules', default: 'allow' },
    approval: { backend: 'auto-reject' },
    telemetry: { db },
    proxy: proxySection,
  });
  proxy = await startStdioProxy(config, work.dir);
  return { client: proxy.client, db };
}

describe('proxy.executionTimeoutMs: a hung upstream', () => {
  it('answers the agent with a timeout that says the call may still be running, and cancels it upstream', async () => {
    const { client, db } = await start({ executionTimeouts: { hang: 500 } });
    // The client's own limit is far longer: the proxy's answer is what ends the call.
    const result = await client.callTool({ name: 'hang', arguments: {} }, undefined, {
      timeout: 20_000,
    });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(
      /^Tool 'hang' did not answer within 0\.5 s; it may still be running on the server 'slow', which was sent a cancellation/,
    );
    // The server heard the cancellation, and the session still works.
    const seen = await waitUntil(async () => {
      const r = await client.callTool({ name: 'cancellations', arguments: {} });
      const list = JSON.parse(resultText(r)) as string[];
      return list.length ? list : undefined;
    }, 'the cancellation at the server');
    expect(seen[0]).toMatch(/no answer within 0\.5 s/);

    const conn = new Database(db, { readonly: true });
    try {
      await waitUntil(
        () =>
          conn
            .prepare("SELECT payload FROM trace_events WHERE event_type = 'tool_execution_end'")
            .all()
            .some((r) => /timed out/.test((r as { payload: string }).payload)),
        'the timed-out end in telemetry',
      );
    } finally {
      conn.close();
    }
  });

  it('the global proxy.executionTimeoutMs applies to every tool a glob does not name', async () => {
    const { client } = await start({ executionTimeoutMs: 300 });
    const result = await client.callTool({ name: 'hang', arguments: {} }, undefined, {
      timeout: 20_000,
    });
    expect(resultText(result)).toMatch(/did not answer within 0\.3 s/);
  });

  it('a {a,b} glob in proxy.executionTimeouts names the tools it lists', async () => {
    // Without the glob matching, the global 0 would wait forever and the client give up first.
    const { client } = await start({
      executionTimeoutMs: 0,
      executionTimeouts: { '{hang,stall}': 400 },
    });
    const result = await client.callTool({ name: 'hang', arguments: {} }, undefined, {
      timeout: 8_000,
    });
    expect(resultText(result)).toMatch(/did not answer within 0\.4 s/);
  });
});
