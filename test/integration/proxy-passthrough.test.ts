import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  type CreateMessageResult,
  type ElicitRequest,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientHandlers,
  connectDirect,
  deferred,
  everythingServer,
  filesystemServer,
  type HttpProxy,
  resultText,
  type StdioProxy,
  startHttpProxy,
  startStdioProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';

// Resources, prompts and completions are forwarded; server-to-client requests
// from server-everything (elicitation, sampling, roots) reach the client and
// its answers reach the server, over stdio and over Streamable HTTP.

const tmp = tempDir();
const root = join(tmp.dir, 'files');
const elicited: Array<ElicitRequest['params']> = [];
const sampled: unknown[] = [];
const handlers: ClientHandlers = {
  elicit: (request) => {
    elicited.push(request);
    return { action: 'accept', content: { name: 'Ada Lovelace', check: true } };
  },
  sample: (request): CreateMessageResult => {
    sampled.push(request);
    return {
      role: 'assistant',
      model: 'test-model',
      content: { type: 'text', text: 'a sampled answer from the client' },
    };
  },
};
const capabilities = { elicitation: {}, sampling: {} };
let direct: Client;
let proxy: StdioProxy;
let http: HttpProxy;

beforeAll(async () => {
  mkdirSync(root);
  const config = writeConfig(tmp.dir, {
    mcpServers: { everything: everythingServer(), fs: filesystemServer(root) },
    policy: { type: 'always_approve' },
    approval: { backend: 'auto-reject' },
    telemetry: { db: join(tmp.dir, 'telemetry.db') },
  });
  [direct, proxy, http] = await Promise.all([
    connectDirect(everythingServer()),
    startStdioProxy(config, tmp.dir, { capabilities, handlers }),
    startHttpProxy(config, tmp.dir),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([direct?.close(), proxy?.close(), http?.close()]);
  tmp.remove();
});

describe('hitloop proxy: resources, prompts and completions', () => {
  it('lists and reads the same resources as a direct connection', async () => {
    const expected = (await direct.listResources()).resources;
    const { resources } = await proxy.client.listResources();
    expect(expected.length).toBeGreaterThan(0);
    expect(resources).toEqual(expect.arrayContaining(expected));
    const uri = expected[0]!.uri;
    const [viaProxy, viaDirect] = await Promise.all([
      proxy.client.readResource({ uri }),
      direct.readResource({ uri }),
    ]);
    expect(viaProxy).toEqual(viaDirect);
  });

  it('lists resource templates and reads a templated resource', async () => {
    const expected = (await direct.listResourceTemplates()).resourceTemplates;
    const { resourceTemplates } = await proxy.client.listResourceTemplates();
    expect(resourceTemplates).toEqual(expect.arrayContaining(expected));
    const read = await proxy.client.readResource({ uri: 'demo://resource/dynamic/text/7' });
    expect(read.contents[0]).toMatchObject({
      uri: 'demo://resource/dynamic/text/7',
      mimeType: 'text/plain',
    });
    const content = read.contents[0]!;
    expect('text' in content ? content.text : '').toMatch(/^Resource 7: /);
  });

  it('an unknown resource is an error that names it', async () => {
    await expect(proxy.client.readResource({ uri: 'nowhere://x' })).rejects.toThrow(
      /-32602.*nowhere:\/\/x/,
    );
  });

  it('lists prompts as SERVER__PROMPT and gets one with arguments', async () => {
    const expected = (await direct.listPrompts()).prompts;
    const { prompts } = await proxy.client.listPrompts();
    expect(prompts).toEqual(
      expect.arrayContaining(expected.map((p) => ({ ...p, name: `everything__${p.name}` }))),
    );
    const prompt = await proxy.client.getPrompt({
      name: 'everything__args-prompt',
      arguments: { city: 'Paris', state: 'Texas' },
    });
    expect(prompt.messages[0]!.content).toEqual({
      type: 'text',
      text: "What's weather in Paris, Texas?",
    });
  });

  it('forwards completions for a namespaced prompt', async () => {
    const result = await proxy.client.complete({
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'department', value: 'E' },
    });
    expect(result.completion.values).toEqual(['Engineering']);
  });

  it('forwards logging/setLevel and the server log messages, naming the server', async () => {
    const logged = deferred<Record<string, unknown>>();
    proxy.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) =>
      logged.resolve(n.params),
    );
    await proxy.client.setLoggingLevel('debug');
    await proxy.client.callTool({ name: 'everything__toggle-simulated-logging', arguments: {} });
    const message = await logged.promise;
    expect(String(message.data)).toMatch(/[Mm]essage/);
    expect(message.logger).toBe('everything');
    await proxy.client.callTool({ name: 'everything__toggle-simulated-logging', arguments: {} });
  });
});

describe('hitloop proxy: server-to-client requests from server-everything', () => {
  it('elicitation over stdio: the server asks, the client answers, the tool sees the answer', async () => {
    elicited.length = 0;
    const result = await proxy.client.callTool({
      name: 'everything__trigger-elicitation-request',
      arguments: {},
    });
    expect(elicited).toHaveLength(1);
    expect(elicited[0]!.message).toBe('Please provide inputs for the following fields:');
    // The server's form arrives intact, not hitloop's approval form.
    const form = elicited[0] as { requestedSchema: { properties: Record<string, unknown> } };
    expect(Object.keys(form.requestedSchema.properties)).toContain('birthdate');
    expect(resultText(result)).toContain('- Name: Ada Lovelace');
    expect(resultText(result)).toContain('- Agreed to terms: true');
  });

  it('sampling over stdio: the server asks the client LLM and gets its answer', async () => {
    sampled.length = 0;
    const result = await proxy.client.callTool({
      name: 'everything__trigger-sampling-request',
      arguments: { prompt: 'What is 2+2?', maxTokens: 50 },
    });
    expect(sampled).toHaveLength(1);
    expect(JSON.stringify(sampled[0])).toContain('What is 2+2?');
    expect(resultText(result)).toContain('a sampled answer from the client');
  });

  it('elicitation and sampling over Streamable HTTP', async () => {
    elicited.length = 0;
    sampled.length = 0;
    const client = await http.connect({ capabilities, handlers });
    const elicitation = await client.callTool({
      name: 'everything__trigger-elicitation-request',
      arguments: {},
    });
    expect(resultText(elicitation)).toContain('- Name: Ada Lovelace');
    const sampling = await client.callTool({
      name: 'everything__trigger-sampling-request',
      arguments: { prompt: 'over http' },
    });
    expect(resultText(sampling)).toContain('a sampled answer from the client');
    expect(elicited).toHaveLength(1);
    expect(sampled).toHaveLength(1);
  });

  it('two concurrent elicitations over one HTTP session both reach the client', async () => {
    elicited.length = 0;
    const client = await http.connect({ capabilities, handlers });
    const [a, b] = await Promise.all([
      client.callTool({ name: 'everything__trigger-elicitation-request', arguments: {} }),
      client.callTool({ name: 'everything__trigger-elicitation-request', arguments: {} }),
    ]);
    expect(resultText(a)).toContain('- Name: Ada Lovelace');
    expect(resultText(b)).toContain('- Name: Ada Lovelace');
    expect(elicited).toHaveLength(2);
  });

  it('roots: the server asks for the client roots and sees them', async () => {
    const client = await http.connect({ capabilities: { roots: { listChanged: true } } });
    client.setRequestHandler(ListRootsRequestSchema, () => ({
      roots: [{ uri: 'file:///work/project', name: 'project' }],
    }));
    const result = await client.callTool({ name: 'everything__get-roots-list', arguments: {} });
    expect(resultText(result)).toContain('URI: file:///work/project');
  });

  it('tools that need a capability the client lacks are not offered', async () => {
    const client = await http.connect({ capabilities: {} });
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('everything__echo');
    expect(names).not.toContain('everything__trigger-elicitation-request');
    expect(names).not.toContain('everything__trigger-sampling-request');
  });
});
