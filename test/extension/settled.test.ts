import { describe, expect, it } from 'vitest';
import {
  type PendingSourceLike,
  settledMessage,
  untilSettled,
} from '../../extension/src/settled.js';

/** A stand-in for HubConnections: a set of pending ids and its change event. */
function fakeHubs(ids: string[]) {
  const pending = new Set(ids);
  const listeners = new Set<() => void>();
  const hubs: PendingSourceLike & { decide(id: string): void; listeners: number } = {
    findPending: (_hubId, id) => (pending.has(id) ? { id } : undefined),
    onDidChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    decide: (id) => {
      pending.delete(id);
      for (const l of [...listeners]) l();
    },
    get listeners() {
      return listeners.size;
    },
  };
  return hubs;
}

const state = async (p: Promise<void>) =>
  Promise.race([p.then(() => 'settled'), new Promise((r) => setTimeout(() => r('waiting'), 20))]);

describe('a notification closes when its call is decided', () => {
  it('waits while the call is pending, and ends when it is decided elsewhere', async () => {
    const hubs = fakeHubs(['a', 'other']);
    const watch = untilSettled(hubs, [{ hubId: 'h', id: 'a' }]);
    expect(await state(watch)).toBe('waiting');
    hubs.decide('other');
    expect(await state(watch)).toBe('waiting');
    hubs.decide('a');
    expect(await state(watch)).toBe('settled');
    expect(hubs.listeners, 'the listener is removed').toBe(0);
  });

  it('a batch notification ends when the last of its calls is decided', async () => {
    const hubs = fakeHubs(['a', 'b']);
    const watch = untilSettled(hubs, [
      { hubId: 'h', id: 'a' },
      { hubId: 'h', id: 'b' },
    ]);
    hubs.decide('a');
    expect(await state(watch)).toBe('waiting');
    hubs.decide('b');
    expect(await state(watch)).toBe('settled');
  });

  it('ends at once for a call already decided, and when dismissed', async () => {
    const hubs = fakeHubs(['b']);
    expect(await state(untilSettled(hubs, [{ hubId: 'h', id: 'a' }]))).toBe('settled');
    let dismiss: (() => void) | undefined;
    const watch = untilSettled(hubs, [{ hubId: 'h', id: 'b' }], (stop) => {
      dismiss = stop;
    });
    expect(await state(watch)).toBe('waiting');
    dismiss?.();
    expect(await state(watch)).toBe('settled');
    expect(hubs.listeners).toBe(0);
  });
});

describe('a click on a call decided meanwhile', () => {
  it('says who decided what, and when, and that nothing changed', () => {
    const message = settledMessage('files › write_file', {
      status: 'approved',
      decision: {
        actionId: 'x',
        approved: true,
        reason: '',
        decidedBy: 'vscode:alice',
        latencyMs: 10,
        tags: [],
        decidedAt: '2026-01-01T10:00:05Z',
      },
    });
    expect(message).toMatch(
      /^hitloop: files › write_file was already decided \(approved by vscode:alice at \d\d:\d\d:05\); nothing changed$/,
    );
    expect(
      settledMessage('write_file', {
        status: 'rejected',
        decision: {
          actionId: 'x',
          approved: false,
          reason: 'no',
          decidedBy: 'cli:bob',
          latencyMs: 1,
          tags: [],
        },
      }),
    ).toBe('hitloop: write_file was already decided (rejected by cli:bob); nothing changed');
    expect(
      settledMessage('write_file', {
        status: 'withdrawn',
        statusReason: 'the agent cancelled the call',
      }),
    ).toBe(
      'hitloop: write_file is no longer pending (withdrawn: the agent cancelled the call); nothing changed',
    );
    expect(settledMessage('write_file', undefined)).toBe(
      'hitloop: write_file is no longer waiting here; nothing changed',
    );
  });
});
