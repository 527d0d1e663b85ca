import { mkdirSync } from 'node:fs';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectDirect,
  everythingServer,
  filesystemServer,
  PROXY_ENTRY,
  type StdioProxy,
  startStdioProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';

// What the real `hitloop proxy` calls itself (serverInfo), read by the MCP
// SDK's own Client after initialize, next to what the same servers say
// directly. Clients name tools after it: VS Code's tool reference names are
// `<prefix><tool>`, with the prefix made from `serverInfo.title ?? name` as
// below (VS Code's McpPrefixGenerator: lower case, anything but [a-z0-9_.-]
// becomes `_`, cut to 13 characters; a second server with the same prefix
// gets `2`, in start order). Routing a server through hitloop must not change it.

function vscodePrefix(info: { name: string; title?: string } | undefined): string {
  const label = info?.title || info?.name || '';
  return `mcp_${label
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '_')
    .slice(0, 13)}_`;
}

const tmp = tempDir();
const fsRoot = `${tmp.dir}/files`;
let single: StdioProxy;
let several: StdioProxy;
let singleConfig: string;

beforeAll(async () => {
  mkdirSync(fsRoot);
  const base = {
    policy: { type: 'always_approve' },
    approval: { backend: 'auto-reject' },
    telemetry: { db: `${tmp.dir}/telemetry.db` },
  };
  singleConfig = writeConfig(
    tmp.dir,
    { mcpServers: { files: filesystemServer(fsRoot) }, ...base },
    'single.json',
  );
  const severalConfig = writeConfig(
    tmp.dir,
    {
      mcpServers: { everything: everythingServer(), files: filesystemServer(fsRoot) },
      proxy: { nameInClient: 'team-tools' },
      ...base,
    },
    'several.json',
  );
  [single, several] = await Promise.all([
    startStdioProxy(singleConfig, tmp.dir),
    startStdioProxy(severalConfig, tmp.dir),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([single?.close(), several?.close()]);
  tmp.remove();
});

describe('hitloop proxy: the name it reports', () => {
  it('in front of one server, reports that server’s own name, title and version: tool names do not change', async () => {
    const direct = await connectDirect(filesystemServer(fsRoot));
    const own = direct.getServerVersion();
    await direct.close();
    expect(own?.name).toBe('secure-filesystem-server');

    const through = single.client.getServerVersion();
    expect(through).toMatchObject({
      name: own?.name,
      version: own?.version,
      description: expect.stringMatching(/^files, gated by hitloop \d/),
    });
    expect(through?.title).toBe(own?.title);
    expect(vscodePrefix(through)).toBe(vscodePrefix(own));
    expect(vscodePrefix(through)).toBe('mcp_secure-filesy_');
    // And the tools behind it keep their own names (one server: no SERVER__ prefix).
    const { tools } = await single.client.listTools();
    expect(tools.map((t) => t.name)).toContain('write_file');
  });

  it('reports the same to a client of the 2026 SDK (v2), whatever protocol it settles on', async () => {
    const client = new ClientV2({ name: 'hitloop-identity-v2', version: '1.0.0' });
    const env: Record<string, string> = { HITLOOP_HOME: tmp.dir };
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] ??= v;
    await client.connect(
      new StdioTransportV2({
        command: process.execPath,
        args: [PROXY_ENTRY, 'proxy', '--config', singleConfig],
        env,
        stderr: 'ignore',
      }),
    );
    try {
      const info = client.getServerVersion();
      const version = client.getNegotiatedProtocolVersion();
      expect(info, `negotiated ${version}`).toMatchObject({
        name: 'secure-filesystem-server',
        description: expect.stringMatching(/^files, gated by hitloop \d/),
      });
      expect(vscodePrefix(info)).toBe('mcp_secure-filesy_');
    } finally {
      await client.close();
    }
  });

  it('in front of several servers, reports the name the client knows it by (proxy.nameInClient)', () => {
    const through = several.client.getServerVersion();
    expect(through).toMatchObject({
      name: 'team-tools',
      description: expect.stringContaining('everything, files, gated by hitloop'),
    });
    expect(through?.title).toBeUndefined();
    expect(vscodePrefix(through)).toBe('mcp_team-tools_');
  });
});
