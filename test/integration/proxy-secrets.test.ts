import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  everythingServer,
  initializeRequest,
  type RawProxy,
  resultText,
  type StdioProxy,
  startRawProxy,
  startStdioProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';

// An upstream server must not be able to approve its own calls: it never
// inherits hitloop's tokens and secrets from the proxy's environment, neither
// when the proxy starts it from a config nor when it is started early from the
// raw command line. server-everything's `get-env` reports what it got.

const SECRETS = {
  HITLOOP_HUB_TOKEN: 'hub-token-that-approves-everything',
  HITLOOP_PROXY_TOKEN: 'proxy-token-for-http-clients',
  HITLOOP_WEBHOOK_SECRET: 'webhook-secret-signing-decisions',
  HITLOOP_STORE: 'postgres://hitloop:password@db.internal/approvals',
  HITLOOP_HEADER_1: 'Authorization: Bearer upstream-token',
};
// Not a secret: proves the environment is otherwise passed on.
const PLAIN = { HITLOOP_TEST_MARKER: 'passed-on' };

let work: { dir: string; remove: () => void };
const stdio: StdioProxy[] = [];
const raw: RawProxy[] = [];

beforeEach(() => {
  work = tempDir('hitloop-secrets-');
});
afterEach(async () => {
  await Promise.allSettled(stdio.map((p) => p.close()));
  for (const p of raw) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  stdio.length = 0;
  raw.length = 0;
  work.remove();
});

const allowAll = { type: 'rules', default: 'allow' };

async function serverEnvThroughConfig(
  env?: Record<string, string>,
): Promise<Record<string, string>> {
  const file = writeConfig(work.dir, {
    mcpServers: { everything: { ...everythingServer(), ...(env ? { env } : {}) } },
    policy: allowAll,
    telemetry: { db: false },
  });
  const proxy = await startStdioProxy(file, work.dir, { env: { ...SECRETS, ...PLAIN } });
  stdio.push(proxy);
  const result = await proxy.client.callTool({ name: 'get-env', arguments: {} });
  return JSON.parse(resultText(result)) as Record<string, string>;
}

describe("upstream servers do not get hitloop's secrets", () => {
  it('a server from the config sees none of them, and the rest of the environment', async () => {
    const env = await serverEnvThroughConfig();
    for (const name of Object.keys(SECRETS)) expect(env, name).not.toHaveProperty(name);
    expect(env.HITLOOP_TEST_MARKER).toBe('passed-on');
    expect(env.HITLOOP_HOME).toBe(work.dir);
  });

  it("a secret the server's own `env` names is passed: the user chose to", async () => {
    const env = await serverEnvThroughConfig({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${env:VAR} syntax
      HITLOOP_HUB_TOKEN: '${env:HITLOOP_HUB_TOKEN}',
    });
    expect(env.HITLOOP_HUB_TOKEN).toBe(SECRETS.HITLOOP_HUB_TOKEN);
    expect(env).not.toHaveProperty('HITLOOP_PROXY_TOKEN');
    expect(env).not.toHaveProperty('HITLOOP_WEBHOOK_SECRET');
  });

  it('the server of `proxy -- COMMAND`, started before the config is read, sees none of them', async () => {
    const { command, args } = everythingServer();
    const proxy = startRawProxy(
      undefined,
      work.dir,
      ['--approval', 'auto-approve', '--no-telemetry', '--', command, ...args],
      { ...SECRETS, ...PLAIN },
    );
    raw.push(proxy);
    proxy.send(initializeRequest(1));
    await proxy.next((m) => m.id === 1);
    proxy.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    proxy.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'get-env', arguments: {} },
    });
    const answer = await proxy.next((m) => m.id === 2);
    const env = JSON.parse(resultText(answer.result)) as Record<string, string>;
    for (const name of Object.keys(SECRETS)) expect(env, name).not.toHaveProperty(name);
    expect(env.HITLOOP_TEST_MARKER).toBe('passed-on');
  });
});
