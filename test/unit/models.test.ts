import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  Action,
  ApprovalRequest,
  createAction,
  Decision,
  isTimeoutDecision,
} from '../../shared/models/index.js';
import { TraceEvent } from '../../shared/models/trace-event.js';
import { argsHash, canonicalJson } from '../../shared/util/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"z":1}]},"b":1}',
    );
  });
  it('follows JSON for non-finite numbers, undefined array items and toJSON', () => {
    expect(canonicalJson([Number.NaN, Number.POSITIVE_INFINITY, undefined, -0])).toBe(
      '[null,null,null,0]',
    );
    expect(canonicalJson({ when: new Date('2026-01-02T03:04:05.000Z') })).toBe(
      '{"when":"2026-01-02T03:04:05.000Z"}',
    );
    expect(canonicalJson(undefined)).toBe('null');
  });
  it('escapes strings exactly as JSON does, including unpaired surrogates', () => {
    const s = 'quote " backslash \\ newline \n rlo \u202e lone \ud800';
    expect(JSON.parse(canonicalJson({ s })).s).toBe(s);
  });
  it('rejects BigInt rather than hashing something ambiguous', () => {
    expect(() => canonicalJson({ n: 1n })).toThrow(/BigInt/);
  });
});

describe('argsHash', () => {
  const a = { path: '/tmp/a.txt', content: 'héllo', options: { mode: 420, flags: ['w', 'x'] } };
  const reordered = {
    options: { flags: ['w', 'x'], mode: 420 },
    content: 'héllo',
    path: '/tmp/a.txt',
  };

  it('is independent of key order', () => {
    expect(argsHash(a)).toBe(argsHash(reordered));
  });
  it('changes when any value changes, including array order', () => {
    expect(argsHash({ ...a, content: 'hello' })).not.toBe(argsHash(a));
    expect(argsHash({ ...a, options: { mode: 420, flags: ['x', 'w'] } })).not.toBe(argsHash(a));
  });
  it('is a 64-character hex SHA-256 of the canonical text', () => {
    expect(argsHash({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    expect(argsHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });
  it('is stable across processes (the built library in a fresh node)', () => {
    const lib = new URL('../../dist/shared/util/canonical-json.js', import.meta.url).href;
    const other = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { argsHash } = await import(${JSON.stringify(lib)}); process.stdout.write(argsHash(JSON.parse(process.argv[1])));`,
        JSON.stringify(reordered),
      ],
      { encoding: 'utf8' },
    );
    expect(other).toBe(argsHash(a));
  });
});

describe('models', () => {
  it('fills Action defaults and a random id', () => {
    const action = createAction({ toolName: 'send_email', toolArgs: { to: 'a@b.c' } });
    expect(action.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(action).toMatchObject({
      riskClass: 'low',
      sideEffects: [],
      rationale: '',
      contextRefs: [],
    });
    expect(createAction({ toolName: 'x', toolArgs: {} }).id).not.toBe(action.id);
  });
  it('rejects invalid actions with the offending field', () => {
    const r = Action.safeParse({ id: 'a', toolName: '', toolArgs: {}, riskClass: 'extreme' });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['toolName', 'riskClass']));
  });
  it('parses a Decision and tells timeouts from human rejections', () => {
    const d = Decision.parse({
      actionId: 'a',
      approved: false,
      decidedBy: 'cli:timeout',
      latencyMs: 600000,
    });
    expect(isTimeoutDecision(d)).toBe(true);
    expect(isTimeoutDecision({ decidedBy: 'cli:alice' })).toBe(false);
    expect(
      Decision.safeParse({ actionId: 'a', approved: true, decidedBy: 'x', latencyMs: -1 }).success,
    ).toBe(false);
  });
  it('round-trips an ApprovalRequest through JSON', () => {
    const req = ApprovalRequest.parse({
      runId: 'r',
      action: createAction({ toolName: 't', toolArgs: { n: 1 } }),
      policyName: 'rules',
      createdAt: new Date().toISOString(),
    });
    expect(ApprovalRequest.parse(JSON.parse(JSON.stringify(req)))).toEqual(req);
  });
  it('accepts exactly the seed event types', () => {
    expect(TraceEvent.shape.eventType.options).toEqual([
      'run_start',
      'run_end',
      'llm_call',
      'action_proposed',
      'approval_requested',
      'approval_decided',
      'tool_execution_start',
      'tool_execution_end',
      'error',
      'injected_error',
    ]);
    expect(TraceEvent.safeParse({ runId: 'r', eventType: 'approval_given' }).success).toBe(false);
  });
});
