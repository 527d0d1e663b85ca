import type { TracePayload } from './payloads.js';

// An allowed call used to cost three full `trace_events` rows (proposal,
// start, end), each with its payload serialised and five indexes updated. It
// is now one `tool_calls` row with its arguments stored once, and the
// `trace_events` view rebuilds the three events from it, byte for byte (see
// event-view.ts). This module decides which events may take that form: only
// payloads whose JSON text the view reproduces exactly. Anything else (a
// call that waits for a human, a denial, a failure, an odd payload) is
// stored as a full event, so what a query sees never depends on the choice.

/** The keys of the gate's `action_proposed` payload, in order, around the optional ones. */
const PROPOSED_HEAD = [
  'action_id',
  'tool_name',
  'args_hash',
  'risk_class',
  'side_effects',
  'tool_args',
  'rationale',
  'context_refs',
] as const;
const PROPOSED_TAIL = ['policy_name', 'policy_verdict', 'policy_reason', 'policy_rule'] as const;
/** Indexed by (server present ? 1 : 0) + (annotations present ? 2 : 0). */
const PROPOSED_KEYS: readonly (readonly string[])[] = [
  [...PROPOSED_HEAD, ...PROPOSED_TAIL],
  [...PROPOSED_HEAD, 'server', ...PROPOSED_TAIL],
  [...PROPOSED_HEAD, 'annotations', ...PROPOSED_TAIL],
  [...PROPOSED_HEAD, 'server', 'annotations', ...PROPOSED_TAIL],
];
const START_KEYS = ['action_id', 'tool_name', 'tool_args'] as const;
const END_KEYS = [
  'action_id',
  'success',
  'error',
  'error_class',
  'retry_count',
  'execution_time_ms',
  'duration_ms',
  'executed',
] as const;

// A string the view may write as `"` + text + `"`: nothing JSON.stringify
// would escape (quote, backslash, control characters, surrogates, which
// SQLite's UTF-8 text could not even hold alone).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function plain(value: unknown): value is string {
  return typeof value === 'string' && !NEEDS_ESCAPE.test(value);
}

function keysAre(payload: TracePayload, keys: readonly string[]): boolean {
  let i = 0;
  for (const key in payload) {
    if (keys[i] !== key) return false;
    i++;
  }
  return i === keys.length;
}

/**
 * An allowed call in the compact form: what the `tool_calls` row holds. The
 * `*Id` fields are the events' places in the one id sequence of
 * `trace_events`, given when the row is written (0 until then).
 *
 * @example
 * const call = compactProposal(payload, runId, timestamp, argsJson);
 * if (call) console.log(call.toolName, call.argsJson);
 */
export interface CompactCall {
  runId: string;
  actionId: string;
  toolName: string;
  argsHash: string;
  /** The arguments object the proposal carried: a start with the very same object runs them. */
  args: object;
  /** The stored (redacted) arguments, as JSON text. */
  argsJson: string;
  riskClass: string;
  sideEffects: string;
  rationale: string;
  contextRefs: string;
  server: string | null;
  annotations: string | null;
  policyName: string;
  policyReason: string;
  policyRule: string | null;
  proposedAt: string;
  /** The proposal's event_id, set by the logger. */
  proposedEventId: string;
  /** True once a start was logged for it (a second start is a full row). */
  startLogged: boolean;
  /** The proposal's id in trace_events; 0 until a flush gives it one. */
  id: number;
  /** True once a committed flush holds the row. */
  written: boolean;
  /** The flush attempt that gave `id`, to tell this attempt's rows from older ones. */
  attempt: number;
  startId: number;
  startedAt: string | null;
  startEventId: string | null;
  endId: number;
  endedAt: string | null;
  endEventId: string | null;
  /** JSON text of the duration in ms, as JSON.stringify wrote it. */
  durationMs: string | null;
}

/**
 * The compact form of an `action_proposed` payload when the policy allowed
 * the call and the view can rebuild its exact JSON text; else undefined.
 * `argsJson` is the stored (redacted) form of `payload.tool_args`.
 *
 * @example
 * compactProposal(actionVerdictPayload(action, 'allow_all', { verdict: 'allow', reason: 'ok' }), runId, now, JSON.stringify)
 */
export function compactProposal(
  payload: TracePayload,
  runId: string,
  timestamp: string,
  argsJson: (args: object) => string | undefined,
): CompactCall | undefined {
  if (payload.policy_verdict !== 'allow') return undefined;
  const hasServer = 'server' in payload;
  const hasAnnotations = 'annotations' in payload;
  if (!keysAre(payload, PROPOSED_KEYS[(hasServer ? 1 : 0) + (hasAnnotations ? 2 : 0)]!))
    return undefined;
  const p = payload;
  const rule = p.policy_rule;
  if (
    !plain(p.action_id) ||
    !plain(p.tool_name) ||
    !plain(p.args_hash) ||
    !plain(p.risk_class) ||
    !plain(p.rationale) ||
    !plain(p.policy_name) ||
    !plain(p.policy_reason) ||
    !(rule === null || plain(rule)) ||
    (hasServer && !plain(p.server)) ||
    !Array.isArray(p.side_effects) ||
    !Array.isArray(p.context_refs) ||
    p.tool_args === null ||
    typeof p.tool_args !== 'object' ||
    Array.isArray(p.tool_args)
  )
    return undefined;
  const annotations = hasAnnotations ? JSON.stringify(p.annotations) : null;
  if (hasAnnotations && annotations === undefined) return undefined;
  const args = argsJson(p.tool_args);
  if (args === undefined) return undefined;
  return {
    runId,
    actionId: p.action_id,
    toolName: p.tool_name,
    argsHash: p.args_hash,
    args: p.tool_args,
    argsJson: args,
    riskClass: p.risk_class,
    sideEffects: JSON.stringify(p.side_effects),
    rationale: p.rationale,
    contextRefs: JSON.stringify(p.context_refs),
    server: hasServer ? (p.server as string) : null,
    annotations,
    policyName: p.policy_name,
    policyReason: p.policy_reason,
    policyRule: rule as string | null,
    proposedAt: timestamp,
    proposedEventId: '',
    startLogged: false,
    id: 0,
    written: false,
    attempt: 0,
    startId: 0,
    startedAt: null,
    startEventId: null,
    endId: 0,
    endedAt: null,
    endEventId: null,
    durationMs: null,
  };
}

/**
 * True when a `tool_execution_start` payload is the start of `call` as the
 * view writes it: same action and tool, and the very arguments proposed.
 *
 * @example
 * if (isCompactStart(payload, call)) call.startedAt = timestamp;
 */
export function isCompactStart(payload: TracePayload, call: CompactCall): boolean {
  return (
    keysAre(payload, START_KEYS) &&
    payload.action_id === call.actionId &&
    payload.tool_name === call.toolName &&
    payload.tool_args === call.args
  );
}

/**
 * The duration's JSON text when a `tool_execution_end` payload is a success
 * the view can write (no error, no output, executed); else undefined.
 *
 * @example
 * const duration = compactEndDuration(payload, call); // '12.5'
 */
export function compactEndDuration(payload: TracePayload, call: CompactCall): string | undefined {
  const ms = payload.duration_ms;
  if (
    !keysAre(payload, END_KEYS) ||
    payload.action_id !== call.actionId ||
    payload.success !== true ||
    payload.error !== null ||
    payload.error_class !== null ||
    payload.retry_count !== 0 ||
    payload.executed !== true ||
    typeof ms !== 'number' ||
    !Number.isFinite(ms) ||
    payload.execution_time_ms !== ms
  )
    return undefined;
  return JSON.stringify(ms);
}

/**
 * The full `tool_execution_start` payload text of a compact call: for a
 * start whose call row was never written (dropped while the disk failed).
 *
 * @example
 * startPayloadJson(call) // '{"action_id":"a1","tool_name":"echo","tool_args":{"message":"hi"}}'
 */
export function startPayloadJson(call: CompactCall): string {
  return `{"action_id":"${call.actionId}","tool_name":"${call.toolName}","tool_args":${call.argsJson}}`;
}

/**
 * The full `tool_execution_end` payload text of a compact call's success.
 *
 * @example
 * endPayloadJson(call, '12.5')
 */
export function endPayloadJson(call: CompactCall, durationMs: string): string {
  return `{"action_id":"${call.actionId}","success":true,"error":null,"error_class":null,"retry_count":0,"execution_time_ms":${durationMs},"duration_ms":${durationMs},"executed":true}`;
}
