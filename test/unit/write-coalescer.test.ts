import { describe, expect, it } from 'vitest';
import { WriteCoalescer } from '../../mcp-server/proxy/transport/write-coalescer.js';

const microtasks = () => new Promise<void>((resolve) => queueMicrotask(resolve));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WriteCoalescer', () => {
  it('writes the messages of one run of code in a single write, before the next I/O turn', async () => {
    const writes: string[] = [];
    const writer = new WriteCoalescer((data) => writes.push(data));
    // The async handlers of one chunk of input: each was queued before the
    // first of them produced a message, so all run before the flush.
    queueMicrotask(() => writer.push({ jsonrpc: '2.0', id: 1, result: {} }));
    queueMicrotask(() => writer.pushRaw('{"jsonrpc":"2.0","id":2,"result":{}}'));
    queueMicrotask(() => writer.pushRaw('{"jsonrpc":"2.0","id":3,"result":{}}'));
    expect(writes).toEqual([]);
    await microtasks();
    expect(writes).toEqual([
      '{"jsonrpc":"2.0","id":1,"result":{}}\n{"jsonrpc":"2.0","id":2,"result":{}}\n{"jsonrpc":"2.0","id":3,"result":{}}\n',
    ]);
    // A lone message later on is written by itself, without waiting for a timer.
    writer.pushRaw('{"jsonrpc":"2.0","id":4,"result":{}}');
    await microtasks();
    expect(writes[1]).toBe('{"jsonrpc":"2.0","id":4,"result":{}}\n');
    await nextTurn();
    expect(writes).toHaveLength(2);
  });

  it('flush() writes what is queued now (used on close), and nothing twice', async () => {
    const writes: string[] = [];
    const writer = new WriteCoalescer((data) => writes.push(data));
    writer.pushRaw('a');
    writer.pushRaw('b');
    writer.flush();
    expect(writes).toEqual(['a\nb\n']);
    await nextTurn();
    expect(writes).toEqual(['a\nb\n']);
  });
});
