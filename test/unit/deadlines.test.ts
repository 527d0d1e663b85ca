import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../mcp-server/proxy/session/deadlines.js';

// The proxy's execution deadlines share one timer (deadlines.ts).
describe('Deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires each deadline at its time, in order, and never one that was cancelled', () => {
    const deadlines = new Deadlines();
    const fired: string[] = [];
    deadlines.add(300, () => fired.push('c'));
    const cancelB = deadlines.add(200, () => fired.push('b'));
    deadlines.add(100, () => fired.push('a'));
    deadlines.add(300, () => fired.push('d'));
    cancelB();
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(150);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(['a', 'c', 'd']);
    // Nothing is left to wake up for.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a later deadline added while an earlier one is armed still fires; clear() forgets all', () => {
    const deadlines = new Deadlines();
    const fired: number[] = [];
    deadlines.add(50, () => fired.push(50));
    deadlines.add(500, () => fired.push(500));
    vi.advanceTimersByTime(60);
    deadlines.add(10, () => fired.push(10));
    vi.advanceTimersByTime(10);
    expect(fired).toEqual([50, 10]);
    vi.advanceTimersByTime(430);
    expect(fired).toEqual([50, 10, 500]);
    deadlines.add(5, () => fired.push(5));
    deadlines.clear();
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([50, 10, 500]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
