import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HubClient } from '../../shared/hub/hub-client.js';
import type { HubEvent } from '../../shared/hub/protocol.js';
import { readEventStream, SseDecoder, type SseMessage } from '../../shared/util/sse.js';

// The one event-stream parser (shared/util/sse.ts) and the hub client that
// reads `/v1/events` with it. The stream below uses what the WHATWG rules
// allow and a naive parser gets wrong: CRLF and lone-CR line ends, `data:`
// without the space, multi-line data, comments, `retry:` and `id:` fields.

const withdrawn = (id: string) => JSON.stringify({ type: 'withdrawn', id, reason: 'gone' });

const STREAM =
  `retry: 1000\r\n\r\n` +
  `: keep-alive\r\n\r\n` +
  `event: withdrawn\r\ndata:${withdrawn('crlf-no-space')}\r\n\r\n` +
  `data: {"type":"withdrawn",\ndata: "id":"multi-line","reason":"gone"}\n\n` +
  `id: 7\rdata: ${withdrawn('lone-cr')}\r\r` +
  `event: nothing\n\n` +
  `data: ${withdrawn('é-unicode-✓')}\n\n`;

const EXPECTED_IDS = ['crlf-no-space', 'multi-line', 'lone-cr', 'é-unicode-✓'];

describe('SseDecoder', () => {
  it('completes the same events wherever the stream is cut, even inside a UTF-8 character', () => {
    const bytes = new TextEncoder().encode(STREAM);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const sse = new SseDecoder();
      const events = [...sse.push(bytes.subarray(0, cut)), ...sse.push(bytes.subarray(cut))];
      expect(
        events.map((e) => (JSON.parse(e.data) as { id: string }).id),
        `cut at byte ${cut}`,
      ).toEqual(EXPECTED_IDS);
    }
  });

  it('names events, keeps ids, joins data lines, one character at a time', () => {
    const sse = new SseDecoder();
    const events = [
      ...'event:x\r\ndata:line 1\r\ndata: line 2\r\n\r\nid: 3\ndata: y\r\r\n',
    ].flatMap((c) => sse.push(c));
    expect(events).toEqual([
      { event: 'x', data: 'line 1\nline 2' },
      { event: 'message', data: 'y', id: '3' },
    ]);
  });

  it('dispatches nothing for comments, retry fields and events without data', () => {
    expect(new SseDecoder().push(': hello\n\nretry: 5\n\nevent: nothing\n\n')).toEqual([]);
  });
});

describe('readEventStream', () => {
  it('reads a byte stream to its end', async () => {
    const bytes = new TextEncoder().encode(STREAM);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        // Three-byte chunks: every kind of boundary, in one stream.
        for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.subarray(i, i + 3));
        controller.close();
      },
    });
    const seen: SseMessage[] = [];
    await readEventStream(body, (m) => seen.push(m));
    expect(seen.map((m) => m.event)).toEqual(['withdrawn', 'message', 'message', 'message']);
    expect(seen[2]?.id).toBe('7');
  });

  it('cancels the stream when the handler throws', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('data: 1\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    await expect(
      readEventStream(body, () => {
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(cancelled).toBe(true);
  });
});

describe('HubClient.events', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('reads CRLF, data: without a space, multi-line data and comments, split across writes', async () => {
    const bytes = Buffer.from(STREAM, 'utf8');
    server = createServer((req, res) => {
      if (req.url !== '/v1/events' || req.headers.authorization !== 'Bearer t0ken') {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Five-byte writes, each flushed on its own, then the end of the stream.
      let at = 0;
      const next = () => {
        if (at >= bytes.length) return void res.end();
        res.write(bytes.subarray(at, at + 5), () => setImmediate(next));
        at += 5;
      };
      next();
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new HubClient({ url: `http://127.0.0.1:${port}`, token: 't0ken' });
    const events: HubEvent[] = [];
    await client.events((e) => events.push(e));
    expect(events.map((e) => (e.type === 'withdrawn' ? e.id : e.type))).toEqual(EXPECTED_IDS);
  });
});
