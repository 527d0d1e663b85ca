import { createParser, type EventSourceParser } from 'eventsource-parser';

// The one reader of `text/event-stream` in hitloop: the hub client (CLI
// `approvals --watch`, the VS Code extension) and the hub's approval page
// (bundled for the browser) both use it. EventSource itself would parse the
// stream, but it cannot send the Authorization header the hub requires, so
// the stream is read with fetch and parsed by eventsource-parser, which
// follows the WHATWG rules: LF, CR or CRLF line ends, `data:` with or without
// the space, multi-line data, comments, `retry:` and `id:` fields, and events
// split anywhere across network chunks. Browser-safe: no Node imports.

/** One server-sent event; `event` is `message` when the server named none. */
export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/**
 * An incremental `text/event-stream` decoder: feed it bytes (or decoded
 * text) as they arrive, get back the events they completed. Events without
 * data are not dispatched, as in a browser's EventSource.
 *
 * @example
 * const sse = new SseDecoder();
 * sse.push('event: requested\r\ndata:{"a"') // []
 * sse.push(':1}\r\n\r\n') // [{ event: 'requested', data: '{"a":1}' }]
 */
export class SseDecoder {
  private readonly text = new TextDecoder();
  private completed: SseMessage[] = [];
  private readonly parser: EventSourceParser = createParser({
    onEvent: (m) =>
      this.completed.push({
        event: m.event ?? 'message',
        data: m.data,
        ...(m.id === undefined ? {} : { id: m.id }),
      }),
  });

  /** Feeds the next chunk; a multi-byte character split across chunks is kept until complete. */
  push(chunk: Uint8Array | string): SseMessage[] {
    this.parser.feed(typeof chunk === 'string' ? chunk : this.text.decode(chunk, { stream: true }));
    const out = this.completed;
    this.completed = [];
    return out;
  }
}

/**
 * Reads an event stream to its end, calling `onMessage` for each event.
 * Resolves when the server ends the stream; rejects when reading fails
 * (including an abort of the fetch the body came from).
 *
 * @example
 * const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
 * await readEventStream(res.body!, (m) => console.log(m.event, JSON.parse(m.data)));
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onMessage: (message: SseMessage) => void,
): Promise<void> {
  const reader = body.getReader();
  const sse = new SseDecoder();
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      for (const message of sse.push(value)) onMessage(message);
    }
  } finally {
    // A throwing onMessage or a failed read: close the connection, not leave it open.
    if (!ended) await reader.cancel().catch(() => undefined);
  }
}
