import { describe, expect, it } from 'vitest';
import { WriteCoalescer } from '../../mcp-server/proxy/transport/write-coalescer.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WriteCoalescer', () => {
  it('writes the first message of a turn at once and the rest of the turn in one write after it', async () => {
    const writes: string[] = [];
    const writer = new WriteCoalescer((data) => writes.push(data));
    writer.push({ jsonrpc: '2.0', id: 1, result: {} });
    expect(writes).toEqual(['{"jsonrpc":"2.0","id":1,"result":{}}\n']);
    writer.pushRaw('{"jsonrpc":"2.0","id":2,"result":{}}');
    writer.pushRaw('{"jsonrpc":"2.0","id":3,"result":{}}');
    expect(writes).toHaveLength(1);
    await nextTurn();
    expect(writes).toEqual([
      '{"jsonrpc":"2.0","id":1,"result":{}}\n',
      '{"jsonrpc":"2.0","id":2,"result":{}}\n{"jsonrpc":"2.0","id":3,"result":{}}\n',
    ]);
    // A new turn starts afresh: its first message is not held back.
    writer.pushRaw('{"jsonrpc":"2.0","id":4,"result":{}}');
    expect(writes[2]).toBe('{"jsonrpc":"2.0","id":4,"result":{}}\n');
  });

  it('flush() writes what is queued now (used on close), and nothing twice', async () => {
    const writes: string[] = [];
    const writer = new WriteCoalescer((data) => writes.push(data));
    writer.pushRaw('a');
    writer.pushRaw('b');
    writer.flush();
    expect(writes).toEqual(['a\n', 'b\n']);
    await nextTurn();
    expect(writes).toEqual(['a\n', 'b\n']);
  });
});
