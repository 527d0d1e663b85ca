import { afterEach, describe, expect, it } from 'vitest';
import {
  type HttpDownstream,
  type OpenedSession,
  startHttpDownstream,
} from '../../mcp-server/proxy/http-downstream.js';
import type { Logger } from '../../mcp-server/proxy/log.js';
import type { JsonRpcTransport } from '../../mcp-server/proxy/transport/transport.js';
import { initializeRequest, waitUntil } from '../helpers/proxy-harness.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let downstream: HttpDownstream | undefined;
afterEach(async () => {
  await downstream?.close();
  downstream = undefined;
});

/**
 * A stand-in session that answers initialize: the downstream under test only
 * asks it whether it is busy (`state.busy`), and closes it (`state.closed`).
 */
async function openStandIn(
  transport: JsonRpcTransport,
  state: { busy: boolean; closed: boolean },
): Promise<OpenedSession> {
  transport.onmessage = (msg) => {
    if ('method' in msg && msg.method === 'initialize' && 'id' in msg)
      void transport.send({
        jsonrpc: '2.0',
        id: msg.id,
        result: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          serverInfo: { name: 'stand-in', version: '1' },
        },
      });
  };
  await transport.start();
  return {
    busy: () => state.busy,
    close: async () => {
      state.closed = true;
    },
  };
}

/** A downstream with one stand-in session open; returns the session id. */
async function open(idleSessionMs: number, state: { busy: boolean; closed: boolean }) {
  downstream = await startHttpDownstream({
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: 1 << 20,
    idleSessionMs,
    log: quiet,
    openSession: (transport) => openStandIn(transport, state),
  });
  const res = await fetch(downstream.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(initializeRequest(1)),
  });
  await res.text();
  const session = res.headers.get('mcp-session-id');
  expect(session).toBeTruthy();
  return session!;
}

describe('HTTP downstream idle sessions', () => {
  it('keeps a quiet session open while one of its calls waits, and closes it once none does', async () => {
    const state = { busy: true, closed: false };
    await open(100, state);
    await sleep(450);
    expect(state.closed).toBe(false);
    state.busy = false;
    await sleep(450);
    expect(state.closed).toBe(true);
  });

  it('keeps a quiet session open while its client holds a GET stream, and closes it after the stream ends', async () => {
    const state = { busy: false, closed: false };
    const session = await open(100, state);
    const stream = new AbortController();
    const res = await fetch(downstream!.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': session },
      signal: stream.signal,
    });
    expect(res.status).toBe(200);
    await sleep(450);
    expect(state.closed).toBe(false);
    stream.abort();
    await waitUntil(() => state.closed, 'the session to be closed once the stream ended');
  });
});

describe('HTTP downstream at its session cap', () => {
  /** A downstream of stand-in sessions capped at 2; each session's state is kept. */
  async function capped(evictQuietMs: number) {
    const states: Array<{ busy: boolean; closed: boolean }> = [];
    downstream = await startHttpDownstream({
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: 1 << 20,
      maxSessions: 2,
      evictQuietMs,
      log: quiet,
      openSession: (transport) => {
        const state = { busy: false, closed: false };
        states.push(state);
        return openStandIn(transport, state);
      },
    });
    const initialize = async () => {
      const res = await fetch(downstream!.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify(initializeRequest(1)),
      });
      await res.text();
      return res.status;
    };
    return { states, initialize };
  }

  it('closes the session quiet for longest to make room, once it has been quiet long enough', async () => {
    const { states, initialize } = await capped(200);
    expect(await initialize()).toBe(200);
    expect(await initialize()).toBe(200);
    // Both sessions were just used: the third is refused.
    expect(await initialize()).toBe(503);
    await sleep(300);
    expect(await initialize()).toBe(200);
    expect(states.map((s) => s.closed)).toEqual([true, false, false]);
  });

  it('never closes a session with a call running or waiting for a person', async () => {
    const { states, initialize } = await capped(100);
    expect(await initialize()).toBe(200);
    expect(await initialize()).toBe(200);
    states[0]!.busy = true;
    states[1]!.busy = true;
    await sleep(200);
    expect(await initialize()).toBe(503);
    expect(states.map((s) => s.closed)).toEqual([false, false]);
  });
});
