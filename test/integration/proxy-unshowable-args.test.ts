import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  announcedHub,
  filesystemServer,
  type HttpProxy,
  initializeRequest,
  type RawProxy,
  resultText,
  startHttpProxy,
  startRawProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';

// A call whose arguments cannot be shown faithfully to a reviewer (a
// "__proto__" key, a key written twice) is refused by the proxy before any
// policy or human sees it, and nothing runs: the policy here allows every
// call, so on the old code these writes went through to server-filesystem.

const tmp = tempDir();
const root = join(tmp.dir, 'files');
// The proxy's HITLOOP_HOME, apart from `root`: hitloop refuses any call naming
// a path inside its home, which would hide what these tests check.
const home = join(tmp.dir, 'home');
let raw: RawProxy;
let http: HttpProxy;

beforeAll(async () => {
  mkdirSync(root);
  mkdirSync(home);
  const config = writeConfig(tmp.dir, {
    mcpServers: { fs: filesystemServer(root) },
    policy: { type: 'rules', default: 'allow' },
    approval: { backend: 'auto-reject' },
    proxy: { prefixNames: true },
  });
  raw = startRawProxy(config, home);
  http = await startHttpProxy(config, home);
  raw.send(initializeRequest(1));
  await raw.next((m) => m.id === 1);
  raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
});

afterAll(async () => {
  await Promise.allSettled([raw?.close(), http?.close()]);
  tmp.remove();
});

function callLine(id: number, argsJson: string): string {
  return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"fs__write_file","arguments":${argsJson}}}\n`;
}

describe('hitloop proxy: arguments that cannot be shown faithfully (stdio)', () => {
  it('refuses a tools/call with a "__proto__" key and writes nothing', async () => {
    const file = join(root, 'proto.txt');
    raw.write(
      callLine(
        10,
        `{"path":${JSON.stringify(file)},"content":"hidden","__proto__":{"content":"x"}}`,
      ),
    );
    const answer = await raw.next((m) => m.id === 10);
    expect(answer.result?.isError).toBe(true);
    expect(resultText(answer.result)).toMatch(
      /^Tool 'fs\/write_file' was NOT executed: .*cannot be shown faithfully.*"__proto__" key at __proto__/,
    );
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a nested "__proto__" key too', async () => {
    const file = join(root, 'nested.txt');
    raw.write(
      callLine(
        11,
        `{"path":${JSON.stringify(file)},"content":"x","meta":{"__proto__":{"admin":true}}}`,
      ),
    );
    const answer = await raw.next((m) => m.id === 11);
    expect(resultText(answer.result)).toContain('"__proto__" key at meta.__proto__');
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a key written twice with a JSON-RPC error naming it, and writes neither file', async () => {
    const shown = join(root, 'shown.txt');
    const hidden = join(root, 'hidden.txt');
    raw.write(
      callLine(
        12,
        `{"path":${JSON.stringify(shown)},"content":"x","path":${JSON.stringify(hidden)}}`,
      ),
    );
    const answer = await raw.next((m) => m.id === 12);
    expect(answer.error?.code).toBe(-32600);
    expect(answer.error?.message).toContain('tools/call was NOT executed');
    expect(answer.error?.message).toContain('the key params.arguments.path appears more than once');
    expect(existsSync(shown) || existsSync(hidden)).toBe(false);
  });

  it('still runs the same call written plainly (the refusals above are not a broken setup)', async () => {
    const file = join(root, 'plain.txt');
    raw.write(callLine(13, `{"path":${JSON.stringify(file)},"content":"plain"}`));
    const answer = await raw.next((m) => m.id === 13);
    expect(answer.result?.isError).not.toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('plain');
  });
});

describe('hitloop proxy: arguments that cannot be shown faithfully (Streamable HTTP)', () => {
  it('refuses a tools/call body with a key written twice, and writes neither file', async () => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const init = await fetch(http.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(initializeRequest(1)),
    });
    const session = init.headers.get('mcp-session-id');
    expect(session).toBeTruthy();
    await init.text();
    const withSession = {
      ...headers,
      'mcp-session-id': session!,
      'mcp-protocol-version': '2025-06-18',
    };
    await (
      await fetch(http.url, {
        method: 'POST',
        headers: withSession,
        body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      })
    ).text();
    const shown = join(root, 'http-shown.txt');
    const hidden = join(root, 'http-hidden.txt');
    const res = await fetch(http.url, {
      method: 'POST',
      headers: withSession,
      body: callLine(
        2,
        `{"path":${JSON.stringify(shown)},"content":"x","path":${JSON.stringify(hidden)}}`,
      ),
    });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text)).toMatchObject({
      id: 2,
      error: { code: -32600, message: expect.stringContaining('appears more than once') },
    });
    expect(existsSync(shown) || existsSync(hidden)).toBe(false);
  });
});

describe('hitloop proxy: a call that needs a person never reaches the hub with hidden arguments', () => {
  it('refuses a "__proto__" call at once; no approval card (which could not show the key) appears', async () => {
    const hubHome = join(tmp.dir, 'hub-home');
    const config = writeConfig(
      tmp.dir,
      {
        mcpServers: { fs: filesystemServer(root) },
        policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
        approval: { backend: 'hub' },
        telemetry: { db: false },
        proxy: { prefixNames: true },
      },
      'hub.json',
    );
    const asked = startRawProxy(config, hubHome);
    try {
      asked.send(initializeRequest(1));
      await asked.next((m) => m.id === 1);
      asked.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const hub = await announcedHub(hubHome);
      const file = join(root, 'asked.txt');
      asked.write(
        callLine(20, `{"path":${JSON.stringify(file)},"content":"x","__proto__":{"content":"y"}}`),
      );
      // On the old code the call waited for a person, on a card whose
      // arguments lacked the key and whose hash did not match them.
      const answer = await asked.next((m) => m.id === 20, 5000);
      expect(resultText(answer.result)).toMatch(/^Tool 'fs\/write_file' was NOT executed: /);
      expect(await hub.listPending()).toEqual([]);
      expect(existsSync(file)).toBe(false);
    } finally {
      await asked.close();
    }
  });
});
