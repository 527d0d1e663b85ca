import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import type { HubEvent } from '../../shared/hub/protocol.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { waitUntil } from '../helpers/proxy-harness.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// Event-stream clients that connect and never read used to make the hub
// buffer every event for each of them, without bound (100 such clients took
// a hub from 187 MB to 1,990 MB). Now a client that leaves more than the
// limit unread is dropped; clients that read are not.

const LIMIT = 64 * 1024;
const CLIENTS = 8;
const EVENT_ARGS = { path: '/tmp/x', content: 'x'.repeat(64 * 1024) };

/** A raw socket that asks for the event stream, then never reads. */
function silentStream(url: string, token: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname, () => {
      socket.write(
        `GET /v1/events HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
      // Read the response head, then stop reading for good.
      socket.once('data', () => {
        socket.pause();
        resolve(socket);
      });
    });
    socket.on('error', reject);
  });
}

describe('the hub with event-stream clients that do not read', () => {
  let hub: ApprovalHub;
  const logged: string[] = [];
  beforeEach(async () => {
    hub = new ApprovalHub({
      store: new MemoryApprovalStore(),
      home: makeTempDir('hitloop-hub-'),
      maxStreamBufferBytes: LIMIT,
      log: (m) => logged.push(m),
    });
    await hub.start();
  });
  afterEach(() => hub.stop());

  it('drops them once they leave more than the limit unread, and its buffers stay bounded', async () => {
    const sockets = await Promise.all(
      Array.from({ length: CLIENTS }, () => silentStream(hub.url, hub.token)),
    );
    // A client that reads keeps its stream throughout.
    const reader = new HubClient({ url: hub.url, token: hub.token });
    const heard: HubEvent[] = [];
    let notify: (() => void) | undefined;
    const controller = new AbortController();
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    void reader
      .events(
        (e) => {
          heard.push(e);
          notify?.();
        },
        controller.signal,
        opened,
      )
      .catch(() => undefined);
    await open;
    await waitUntil(() => hub.streamStats().clients === CLIENTS + 1, 'every stream connected');

    // Enough to fill the kernel's socket buffers and then some: ~40 MB per
    // client without a limit.
    let maxBuffered = 0;
    const EVENTS = 600;
    for (let i = 0; i < EVENTS && hub.streamStats().clients > 1; i++) {
      await hub.publish(
        pendingRecord({ hubId: hub.hubId, args: EVENT_ARGS, argsHash: argsHash(EVENT_ARGS) }),
      );
      maxBuffered = Math.max(maxBuffered, hub.streamStats().bufferedBytes);
      // The reader takes each event before the next is sent, however busy
      // the machine, so only the silent clients fall behind.
      while (heard.length <= i) await new Promise<void>((r) => (notify = r));
    }
    await waitUntil(() => hub.streamStats().clients === 1, 'the silent clients to be dropped');
    // Each silent client held at most the limit plus one event before it went.
    const oneEvent = JSON.stringify(EVENT_ARGS).length * 2 + 4096;
    expect(maxBuffered).toBeLessThanOrEqual(CLIENTS * (LIMIT + oneEvent) + oneEvent);
    expect(logged.filter((m) => m.includes('dropped an event-stream client'))).toHaveLength(
      CLIENTS,
    );

    // Dropped, not merely stalled: once a silent client reads, its stream ends.
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.on('close', () => resolve());
            s.resume();
          }),
      ),
    );
    // The reading client heard every event and is still connected.
    expect(heard.length).toBeGreaterThan(0);
    expect(hub.streamStats().clients).toBe(1);
    controller.abort();
  });
});
