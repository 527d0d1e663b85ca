import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { approvalDecidedPayload } from '../../shared/telemetry/payloads.js';
import { decisionFromCallback } from '../../shared/webhooks/callback-handler.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// `decidedBy` is whatever the decider claims; `decidedVia` is how hitloop
// authenticated them, set by hitloop and never taken from the decider.

describe('decidedVia', () => {
  let hub: ApprovalHub;
  beforeEach(async () => {
    hub = new ApprovalHub({
      store: new MemoryApprovalStore(),
      home: makeTempDir('hitloop-hub-'),
    });
    await hub.start();
  });
  afterEach(() => hub.stop());

  it('is hub-token for a decision over the HTTP API, whatever name the body claims', async () => {
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    const decided = await new HubClient({ url: hub.url, token: hub.token }).decide(record.id, {
      approve: false,
      argsHash: record.argsHash,
      decidedBy: 'vscode:the-boss',
    });
    expect(decided.decision).toMatchObject({
      decidedBy: 'vscode:the-boss',
      decidedVia: 'hub-token',
    });
  });

  it('is in-process for code that calls the hub directly', async () => {
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    const result = await hub.decide(record.id, { approve: true, argsHash: record.argsHash });
    expect(result.ok && result.record.decision?.decidedVia).toBe('in-process');
  });

  it('is webhook-signature for a signed callback, with the asserted name under webhook:', () => {
    const d = decisionFromCallback(
      'a1',
      'f'.repeat(64),
      { approved: true, argsHash: 'f'.repeat(64), decidedBy: 'slack:U1' },
      5,
    );
    expect(d).toMatchObject({ decidedBy: 'webhook:slack:U1', decidedVia: 'webhook-signature' });
  });

  it('is stored in telemetry as decided_via next to decided_by', () => {
    const decision = {
      actionId: 'a1',
      approved: true,
      reason: '',
      decidedBy: 'cli:alice',
      decidedVia: 'hub-token',
      latencyMs: 3,
      tags: [],
    };
    expect(approvalDecidedPayload(decision)).toMatchObject({
      decided_by: 'cli:alice',
      decided_via: 'hub-token',
    });
    const logger = new TelemetryLogger({ dbPath: ':memory:' });
    try {
      const runId = logger.startRun({});
      logger.logApprovalDecided(runId, decision, { toolName: 'write_file' });
      const event = logger.getRunEvents(runId).find((e) => e.eventType === 'approval_decided');
      expect(event?.payload).toMatchObject({ decided_by: 'cli:alice', decided_via: 'hub-token' });
    } finally {
      logger.close();
    }
  });
});
