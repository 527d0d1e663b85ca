import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScriptedBackend } from '../../shared/backends/scripted.js';
import {
  gateAction,
  notExecutedMessage,
  UNSHOWABLE_RULE,
} from '../../shared/gate/approval-gate.js';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { gateToolCall } from '../../shared/langgraph/gate.js';
import { createAction } from '../../shared/models/action.js';
import { RulesPolicy } from '../../shared/policies/rules.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import {
  findDuplicateKeys,
  findUnshowable,
  unshowableReason,
} from '../../shared/util/faithful-args.js';
import { parseCallbackBody } from '../../shared/webhooks/callback-handler.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// What a reviewer sees, what the hash covers and what runs must be the same
// value. Arguments that would be shown (or hashed, or forwarded) differently
// are refused at every way in: the gate (library, LangGraph, proxy), the
// hub's decision body, and the hub's publish.

describe('findUnshowable', () => {
  it('finds a "__proto__" key at any depth (JSON.parse keeps it, zod records drop it)', () => {
    expect(findUnshowable(JSON.parse('{"path":"a","__proto__":{"x":1}}'))).toEqual([
      expect.stringContaining('"__proto__" key at __proto__'),
    ]);
    expect(findUnshowable(JSON.parse('{"a":[{"b":{"__proto__":1}}]}'))[0]).toContain(
      'a[0].b.__proto__',
    );
  });

  it('finds lone surrogates, non-finite numbers, BigInt, functions, invalid Dates, Maps, Sets and cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(findUnshowable({ s: 'ok\ud800' })[0]).toContain(
      'lone surrogate U+D800 in the string at s',
    );
    expect(findUnshowable({ 'k\udc00': 1 })[0]).toContain('lone surrogate U+DC00 in the key');
    expect(findUnshowable({ n: Number.NaN })[0]).toContain('NaN at n');
    expect(findUnshowable({ n: 1n })[0]).toContain('a bigint at n');
    expect(findUnshowable({ f: () => 1 })[0]).toContain('a function at f');
    expect(findUnshowable({ d: new Date(Number.NaN) })[0]).toContain('an invalid Date at d');
    expect(findUnshowable({ s: new Set([1]) })[0]).toContain('a Set at s');
    expect(findUnshowable({ m: new Map([[1, 2]]) })[0]).toContain('a Map at m');
    expect(findUnshowable({ a: [undefined] })[0]).toContain('undefined at a[0]');
    expect(findUnshowable(cyclic)[0]).toContain('circular reference at self');
  });

  it('accepts ordinary JSON, emoji, null-prototype objects, valid Dates and absent (undefined) members', () => {
    expect(
      findUnshowable({
        path: '/tmp/x',
        n: [1, 2.5, -0, null, true],
        emoji: '👩🏽‍💻 ❤️',
        nested: Object.assign(Object.create(null), { a: 1 }),
        optional: undefined,
        constructor: 'fine as an own key',
        when: new Date(0),
      }),
    ).toEqual([]);
  });
});

describe('findDuplicateKeys', () => {
  it('finds keys written twice, at any depth, also when spelled with escapes', () => {
    expect(findDuplicateKeys('{"a":1,"a":2}')).toEqual(['a']);
    expect(findDuplicateKeys('{"p":{"args":[{"x":1},{"y":"}\\"","y":2}]}}')).toEqual([
      'p.args[1].y',
    ]);
    expect(findDuplicateKeys('{"path":"a","pa\\u0074h":"b"}')).toEqual(['path']);
  });

  it('does not confuse the same key in sibling objects, or braces and quotes inside strings', () => {
    expect(findDuplicateKeys('{"a":{"x":1},"b":{"x":1},"c":"{\\"a\\":1,\\"a\\":2}"}')).toEqual([]);
    expect(findDuplicateKeys('[{"x":1},{"x":2}]')).toEqual([]);
    expect(findDuplicateKeys('{"s":"\\\\","t":"\\\\\\""}')).toEqual([]);
  });

  it('is part of unshowableReason when the raw text is known', () => {
    const text = '{"path":"/a","path":"/b"}';
    expect(unshowableReason(JSON.parse(text), text)).toMatch(
      /^its arguments cannot be shown faithfully to a reviewer: the key path appears more than once/,
    );
    expect(unshowableReason({ path: '/a' }, '{"path":"/a"}')).toBeUndefined();
  });
});

describe('the gate refuses arguments it cannot show faithfully', () => {
  const policy = new RulesPolicy({ default: 'allow', rules: [] });

  it('denies, without asking, a call with a __proto__ key that a plain allow would have run', async () => {
    const backend = new ScriptedBackend([]);
    // As the proxy builds it: the arguments straight from JSON.parse.
    const action = {
      ...createAction({ toolName: 'write_file', toolArgs: {}, server: 'fs' }),
      toolArgs: JSON.parse('{"path":"/tmp/a","__proto__":{"mode":"0777"}}'),
    };
    const out = await gateAction(action, { policy, backend, runId: 'r' });
    expect(out.kind).toBe('denied');
    if (out.kind !== 'denied') throw new Error('unreachable');
    expect(out.policy.rule).toBe(UNSHOWABLE_RULE);
    expect(backend.requests).toHaveLength(0);
    expect(notExecutedMessage(out)).toMatch(
      /^Tool 'fs\/write_file' was NOT executed: .*"__proto__" key at __proto__/,
    );
  });

  it('refuses a reviewer edit carrying a __proto__ key instead of running it', async () => {
    const ask = new RulesPolicy({ default: 'ask', rules: [] });
    const backend = new ScriptedBackend([
      { approved: true, editedArgs: JSON.parse('{"path":"/tmp/b","x":{"__proto__":{}}}') },
    ]);
    const action = createAction({ toolName: 'write_file', toolArgs: { path: '/tmp/a' } });
    const out = await gateAction(action, { policy: ask, backend, runId: 'r' });
    expect(out).toMatchObject({
      kind: 'rejected',
      decision: { approved: false, decidedBy: 'system:unshowable_edit' },
    });
  });
});

describe('the hub refuses what it cannot show faithfully', () => {
  let hub: ApprovalHub;
  beforeEach(async () => {
    hub = new ApprovalHub({
      store: new MemoryApprovalStore(),
      home: makeTempDir('hitloop-hub-'),
    });
    await hub.start();
  });
  afterEach(() => hub.stop());

  async function postDecision(id: string, body: string) {
    const res = await fetch(`${hub.url}/v1/approvals/${id}/decision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hub.token}`, 'content-type': 'application/json' },
      body,
    });
    return { status: res.status, body: (await res.json()) as { error?: { message: string } } };
  }

  it('answers 400 to edited arguments with a __proto__ key; the request stays pending', async () => {
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    const res = await postDecision(
      record.id,
      `{"approve":true,"argsHash":"${record.argsHash}","editedArgs":{"path":"/tmp/y","__proto__":{"x":1}}}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(
      /^decision refused: the decision body cannot be shown faithfully .*"__proto__" key at __proto__/,
    );
    expect((await hub.store.get(record.id))?.status).toBe('pending');
  });

  it('answers 400 to a decision body with a duplicate key', async () => {
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    const res = await postDecision(
      record.id,
      `{"approve":false,"argsHash":"${record.argsHash}","approve":true}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toContain('the key approve appears more than once');
    expect((await hub.store.get(record.id))?.status).toBe('pending');
  });

  it('does not publish a record whose arguments it could not show', async () => {
    const record = {
      ...pendingRecord({ hubId: hub.hubId }),
      args: JSON.parse('{"__proto__":{"x":1}}'),
    };
    await expect(hub.publish(record)).rejects.toThrow(/not published: approval .* "__proto__" key/);
    expect(await hub.store.get(record.id)).toBeUndefined();
  });
});

describe('webhook callbacks refuse what they cannot show faithfully', () => {
  it('answers 400 to edited arguments with a __proto__ key or a duplicate key', () => {
    const hash = 'a'.repeat(64);
    const proto = parseCallbackBody(
      `{"approved":true,"argsHash":"${hash}","editedArgs":{"path":"/x","__proto__":{"y":1}}}`,
    );
    expect(proto).toMatchObject({ ok: false, status: 400 });
    expect(proto.ok ? '' : proto.message).toContain('"__proto__" key at __proto__');
    const twice = parseCallbackBody(`{"approved":false,"argsHash":"${hash}","approved":true}`);
    expect(twice.ok ? '' : twice.message).toContain('the key approved appears more than once');
    expect(parseCallbackBody(`{"approved":true,"argsHash":"${hash}"}`)).toMatchObject({ ok: true });
  });
});

describe('the LangGraph gate refuses what it cannot show faithfully', () => {
  it('does not execute a tool call whose arguments carry a top-level "__proto__" key', async () => {
    const outcome = await gateToolCall(
      { id: 'c1', name: 'send_email', args: JSON.parse('{"to":"a@b.c","__proto__":{"bcc":"x"}}') },
      'thread-1',
      new ScriptedBackend([{ approved: true }]),
      { policy: new RulesPolicy({ default: 'allow', rules: [] }) },
    );
    expect(outcome).toMatchObject({ kind: 'denied', execute: false });
    expect(outcome.message).toContain('"__proto__" key at __proto__');
  });
});
