import { describe, expect, it } from 'vitest';
import {
  guessMessageId,
  LineFramer,
  type OversizedLine,
} from '../../mcp-server/proxy/jsonrpc/line-framer.js';
import { relabelId } from '../../mcp-server/proxy/jsonrpc/relabel.js';

function frame(max: number, chunks: string[]) {
  const lines: string[] = [];
  const oversized: OversizedLine[] = [];
  const framer = new LineFramer(
    max,
    (l) => lines.push(l),
    (o) => oversized.push(o),
  );
  for (const c of chunks) framer.push(Buffer.from(c));
  return { lines, oversized };
}

describe('LineFramer', () => {
  it('splits lines across chunk boundaries, tolerating CRLF and blank lines', () => {
    expect(frame(100, ['{"a":', '1}\n\n{"b":2}\r\n{"c"', ':3}\n']).lines).toEqual([
      '{"a":1}',
      '{"b":2}',
      '{"c":3}',
    ]);
  });
  it('keeps multi-byte characters split between chunks intact', () => {
    const bytes = Buffer.from('{"s":"é€😀"}\n');
    const framer = new LineFramer(
      100,
      (l) => expect(JSON.parse(l).s).toBe('é€😀'),
      () => {},
    );
    for (const b of bytes) framer.push(Buffer.from([b]));
  });
  it('skips an oversized line without buffering it and reports its size and edges', () => {
    const big = `{"method":"x","params":{"p":"${'z'.repeat(5000)}"},"jsonrpc":"2.0","id":42}`;
    const { lines, oversized } = frame(1000, [
      big.slice(0, 700),
      big.slice(700, 3000),
      `${big.slice(3000)}\n{"ok":1}\n`,
    ]);
    expect(lines).toEqual(['{"ok":1}']);
    expect(oversized).toHaveLength(1);
    expect(oversized[0]!.bytes).toBe(big.length);
    expect(oversized[0]!.head.startsWith('{"method":"x"')).toBe(true);
    expect(oversized[0]!.tail.endsWith('"id":42}')).toBe(true);
    expect(guessMessageId(oversized[0]!)).toBe(42);
  });
});

describe('guessMessageId', () => {
  it('prefers the last id in the tail (the top-level one) over ids nested in params', () => {
    expect(
      guessMessageId({
        bytes: 0,
        head: '{"params":{"id":1},',
        tail: '"x"},"jsonrpc":"2.0","id":"req-7"}',
      }),
    ).toBe('req-7');
  });
  it('falls back to the head, and gives null when there is no id', () => {
    expect(
      guessMessageId({ bytes: 0, head: '{"jsonrpc":"2.0","id":9,"result":{', tail: 'zzzz"}}' }),
    ).toBe(9);
    expect(guessMessageId({ bytes: 0, head: '{"a":1', tail: 'b"}' })).toBeNull();
  });
});

describe('relabelId', () => {
  it('swaps the top-level id at the end of SDK-serialised text', () => {
    const raw = JSON.stringify({
      result: { content: [{ type: 'text', text: 'x' }] },
      jsonrpc: '2.0',
      id: 57,
    });
    const out = relabelId(raw, 57, 'client-1');
    expect(JSON.parse(out!)).toEqual({ ...JSON.parse(raw), id: 'client-1' });
  });
  it('declines text whose last member is not the id, or whose id differs', () => {
    expect(relabelId('{"jsonrpc":"2.0","id":57,"result":{"id":57}}', 57, 1)).toBeUndefined();
    expect(relabelId('{"result":{},"jsonrpc":"2.0","id":56}', 57, 1)).toBeUndefined();
    expect(relabelId('{"result":{}, "id": 57}', 57, 1)).toBeUndefined();
    expect(
      relabelId('{"result":{"text":"\\"id\\":57}"},"jsonrpc":"2.0","id":"57"}', 57, 1),
    ).toBeUndefined();
  });
});
