import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type StdioProxy,
  startStdioProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';

// hitloop's built-in protection covers resources too: a client (or a model
// through its client's "read MCP resource" tool, as Claude Code has) must not
// read a hub token as a file:// resource. The server is a small fixture that
// serves any local file as a resource; the proxy and the client are real.

const FILE_RESOURCES = fileURLToPath(
  new URL('../fixtures/file-resource-server.mjs', import.meta.url),
);

const tmp = tempDir('hitloop-resources-');
const home = join(tmp.dir, 'home');
const files = join(tmp.dir, 'files');
let proxy: StdioProxy;

function startWith(name: string, proxySection: Record<string, unknown>) {
  const config = writeConfig(
    tmp.dir,
    {
      mcpServers: { files: { command: process.execPath, args: [FILE_RESOURCES] } },
      policy: { type: 'always_approve' },
      approval: { backend: 'auto-reject' },
      proxy: proxySection,
    },
    name,
  );
  return startStdioProxy(config, home);
}

beforeAll(async () => {
  mkdirSync(join(home, 'hubs'), { recursive: true });
  mkdirSync(files);
  writeFileSync(join(home, 'hubs', 'someone.json'), '{"token":"secret-hub-token"}');
  writeFileSync(join(files, 'notes.txt'), 'ordinary file');
  proxy = await startWith('hitloop.json', {});
});

afterAll(async () => {
  await proxy?.close();
  tmp.remove();
});

describe('resources/read of hitloop files', () => {
  it('is refused for a file inside HITLOOP_HOME, naming the built-in protection; nothing is read', async () => {
    const uri = pathToFileURL(join(home, 'hubs', 'someone.json')).href;
    const err = await proxy.client.readResource({ uri }).then(
      (r) => r,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain("hitloop's built-in protection");
    expect((err as Error).message).not.toContain('secret-hub-token');
  });

  it('still serves an ordinary file', async () => {
    const uri = pathToFileURL(join(files, 'notes.txt')).href;
    const r = await proxy.client.readResource({ uri });
    expect(r.contents[0]).toMatchObject({ text: 'ordinary file' });
  });

  it('serves it with proxy.protectHitloopFiles false (the documented opt-out)', async () => {
    const open = await startWith('open.json', { protectHitloopFiles: false });
    try {
      const uri = pathToFileURL(join(home, 'hubs', 'someone.json')).href;
      const r = await open.client.readResource({ uri });
      expect(r.contents[0]).toMatchObject({ text: '{"token":"secret-hub-token"}' });
    } finally {
      await open.close();
    }
  });
});
