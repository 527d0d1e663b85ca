import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyBodySignature } from '../../shared/webhooks/signature.js';
import {
  WebhookApprovalRequest as RequestSchema,
  SIGNATURE_HEADER,
  type WebhookApprovalRequest,
} from '../../shared/webhooks/webhook-protocol.js';
import {
  filesystemServer,
  resultText,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';
import { startServe } from '../helpers/serve.js';
import { isolatedStoreUrl, POSTGRES_URL, requireService } from '../helpers/team-stores.js';

// The webhook channel through the real proxy: approval requests go, signed, to
// a receiver standing in for a Slack/Telegram bridge; decisions come back on
// the callback URL, to the proxy itself or to a team hub sharing its store.

const tmp = tempDir('hitloop-webhook-proxy-');
afterAll(() => tmp.remove());
const SECRET = 'a-long-random-shared-secret-for-tests';

type Answer = (request: WebhookApprovalRequest) => Record<string, unknown> | undefined;

/** The bridge: checks each request's signature, then answers on its callback URL. */
async function startReceiver(answer: { current: Answer; status?: number }) {
  const received: WebhookApprovalRequest[] = [];
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (answer.status && answer.status !== 200) {
      res.writeHead(answer.status).end();
      return;
    }
    if (!verifyBodySignature(SECRET, raw, req.headers[SIGNATURE_HEADER.toLowerCase()])) {
      res.writeHead(401).end();
      return;
    }
    const request = RequestSchema.parse(JSON.parse(raw));
    received.push(request);
    res.writeHead(202).end();
    const body = answer.current(request);
    if (body)
      setTimeout(() => {
        void fetch(request.callbackUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ argsHash: request.approval.argsHash, ...body }),
        });
      }, 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function config(name: string, work: string, webhook: Record<string, unknown>, extra = {}) {
  return writeConfig(
    tmp.dir,
    {
      mcpServers: { fs: filesystemServer(work) },
      policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
      approval: { backend: 'webhook', webhook: { secret: SECRET, ...webhook }, ...extra },
      telemetry: { db: false },
    },
    `${name}.json`,
  );
}

const pg = await requireService('postgres', POSTGRES_URL);

describe('hitloop proxy with the webhook channel', () => {
  it('asks a receiver, and its callback approves (edited) or rejects the call', async () => {
    const work = join(tmp.dir, 'local');
    mkdirSync(work, { recursive: true });
    const answer: { current: Answer } = {
      current: (r) => ({
        approved: true,
        decidedBy: 'slack:U123',
        editedArgs: { ...r.approval.args, content: 'edited by a person' },
      }),
    };
    const receiver = await startReceiver(answer);
    const port = await freePort();
    const file = config('local', work, {
      url: receiver.url,
      callbackBaseUrl: `http://127.0.0.1:${port}/v1/callbacks`,
      listen: `127.0.0.1:${port}`,
    });
    const proxy = await startStdioProxy(file, join(tmp.dir, 'home-local'));
    try {
      const target = join(work, 'a.txt');
      const ok = await proxy.client.callTool({
        name: 'write_file',
        arguments: { path: target, content: 'proposed' },
      });
      expect(resultText(ok)).toContain('Successfully wrote');
      expect(readFileSync(target, 'utf8')).toBe('edited by a person');
      expect(receiver.received[0]!.approval).toMatchObject({
        tool: 'write_file',
        server: 'fs',
        args: { path: target, content: 'proposed' },
      });
      answer.current = () => ({ approved: false, reason: 'not in this folder', decidedBy: 'bob' });
      const other = join(work, 'b.txt');
      const no = await proxy.client.callTool({
        name: 'write_file',
        arguments: { path: other, content: 'x' },
      });
      expect(no.isError).toBe(true);
      expect(resultText(no)).toMatch(
        /NOT executed: rejected by webhook:bob\. Reason: not in this folder/,
      );
      expect(existsSync(other)).toBe(false);
    } finally {
      await proxy.close();
      await receiver.close();
    }
  }, 60_000);

  it('fails closed once the receiver keeps failing (circuit breaker), saying so', async () => {
    const work = join(tmp.dir, 'breaker');
    mkdirSync(work, { recursive: true });
    const receiver = await startReceiver({ current: () => undefined, status: 500 });
    const port = await freePort();
    const file = config('breaker', work, {
      url: receiver.url,
      callbackBaseUrl: `http://127.0.0.1:${port}/v1/callbacks`,
      retry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, jitter: 0 },
      circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 60_000, halfOpenMaxCalls: 1 },
    });
    const proxy = await startStdioProxy(file, join(tmp.dir, 'home-breaker'));
    try {
      const call = (i: number) =>
        proxy.client.callTool({
          name: 'write_file',
          arguments: { path: join(work, `${i}.txt`), content: 'x' },
        });
      for (const i of [1, 2]) {
        const r = await call(i);
        expect(r.isError).toBe(true);
        expect(resultText(r)).toContain('NOT executed');
        expect(resultText(r)).toMatch(/webhook:unavailable/);
      }
      const open = await call(3);
      expect(open.isError).toBe(true);
      expect(resultText(open)).toMatch(/system:circuit_breaker/);
      expect(existsSync(join(work, '3.txt'))).toBe(false);
    } finally {
      await proxy.close();
      await receiver.close();
    }
  }, 60_000);

  it('exits 2, naming the field, when the callback address is taken, instead of lingering', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as AddressInfo).port;
    try {
      const work = join(tmp.dir, 'busy');
      mkdirSync(work, { recursive: true });
      const file = config('busy', work, {
        url: 'http://127.0.0.1:9/hook',
        callbackBaseUrl: `http://127.0.0.1:${port}/v1/callbacks`,
        listen: String(port),
      });
      const r = runHitloop(['proxy', '--config', file], {
        env: { HITLOOP_HOME: join(tmp.dir, 'home-busy') },
        input: '',
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('approval.webhook.listen');
      expect(r.stderr).toContain(file);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      busy.close();
    }
  });

  it.skipIf(!pg)(
    'a decision posted to the team hub reaches the proxy through PostgreSQL',
    async () => {
      const store = isolatedStoreUrl(POSTGRES_URL);
      const serve = await startServe(store, join(tmp.dir, 'serve-home'), {
        HITLOOP_WEBHOOK_SECRET: SECRET,
      });
      const work = join(tmp.dir, 'team');
      mkdirSync(work, { recursive: true });
      const receiver = await startReceiver({
        current: () => ({ approved: true, decidedBy: 'telegram:42' }),
      });
      const file = config(
        'team',
        work,
        { url: receiver.url, callbackBaseUrl: `${serve.url}/v1/callbacks` },
        { store, instance: 'webhook-proxy' },
      );
      const proxy = await startStdioProxy(file, join(tmp.dir, 'home-team'));
      try {
        const target = join(work, 'team.txt');
        const r = await proxy.client.callTool({
          name: 'write_file',
          arguments: { path: target, content: 'via the team hub' },
        });
        expect(resultText(r)).toContain('Successfully wrote');
        expect(readFileSync(target, 'utf8')).toBe('via the team hub');
        expect(receiver.received[0]!.callbackUrl.startsWith(`${serve.url}/v1/callbacks/`)).toBe(
          true,
        );
        const record = await waitUntil(
          async () => (await serve.client.history(10)).find((a) => a.status === 'approved'),
          'the approved record on the team hub',
        );
        expect(record.decision?.decidedBy).toBe('webhook:telegram:42');
      } finally {
        await proxy.close();
        await receiver.close();
        await serve.stop();
      }
    },
    60_000,
  );
});
