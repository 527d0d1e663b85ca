import type { Action } from '../models/action.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import type { ToolResult } from '../models/tool-result.js';
import { EventType } from '../models/trace-event.js';
import type { PolicyDecision } from '../policies/policy.js';
import { isMemoryDatabase } from '../sqlite/memory-path.js';
import type { SqliteDatabase, SqliteParam, SqliteStatement } from '../sqlite/types.js';
import { backoffDelay } from '../util/backoff.js';
import { redactSecrets, type SecretKeyTest, secretKeyTest } from '../util/redact.js';
import { uuidv7 } from '../util/uuidv7.js';
import {
  type CompactCall,
  compactEndDuration,
  compactProposal,
  endPayloadJson,
  isCompactStart,
  startPayloadJson,
} from './compact-calls.js';
import { NEXT_EVENT_ID } from './event-view.js';
import {
  actionProposedPayload,
  actionVerdictPayload,
  approvalDecidedPayload,
  approvalRequestedPayload,
  type DecisionContext,
  errorPayload,
  type LlmCall,
  llmCallPayload,
  type TracePayload,
  toolExecutionEndPayload,
  toolExecutionStartPayload,
} from './payloads.js';
import { openTelemetryDatabase } from './schema.js';
import { parseStoredObject, successFlag, textOrNull } from './stored-json.js';
import { WalCheckpointer } from './wal-checkpointer.js';

/** Open calls (proposed, not yet ended) and distinct stored arguments remembered; beyond, the oldest are forgotten. */
const MAX_REMEMBERED = 4096;

// A Set lookup instead of zod: logEvent is on every agent step.
/** Payload members that hold tool arguments, whose secrets are redacted. */
const ARGS_KEYS = ['tool_args', 'edited_args'] as const;

const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set<string>(EventType.options);

/**
 * Options for {@link TelemetryLogger}.
 *
 * @example
 * const options: TelemetryLoggerOptions = { dbPath: 'results/run.db', required: true, batchSize: 100 };
 */
export interface TelemetryLoggerOptions {
  /** The SQLite file; created (with its directory) if missing. `:memory:` works for tests. */
  dbPath: string;
  /** Buffered rows that trigger a flush. Default 500. */
  batchSize?: number;
  /** Longest a row waits in memory before a flush, in ms. Default 200; 0 turns the timer off. */
  flushIntervalMs?: number;
  /**
   * Fail closed: a write failure is thrown to the caller (logEvent, startRun,
   * endRun, flush, close, queries) instead of being reported and retried in
   * the background. Also syncs every commit to disk. Default false.
   */
  required?: boolean;
  /**
   * Receives write failures that are not thrown: the first failure of an
   * outage (not every retry), dropped rows, and rows lost at close. Default:
   * one line to stderr. Exceptions it throws are ignored.
   */
  onError?: (error: TelemetryError) => void;
  /** Most rows kept in memory while writes fail; beyond it the oldest are dropped. Default 100,000. */
  maxBuffered?: number;
  /** How long to wait for another process's write lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * Copy the write-ahead log back into the database from a worker thread
   * (wal-checkpointer.ts) rather than inside a flush, so a flush never
   * stalls on that copy and its fsync. Default true; false leaves it to
   * SQLite's automatic checkpoints. Not used for `:memory:`.
   */
  backgroundCheckpoints?: boolean;
  /**
   * Secrets in tool arguments (`tool_args`, `edited_args`) are stored as
   * `sha256:<hex>` of their value. Default true: keys with a word such as
   * token, secret, password, api_key, credential, authorization or cookie
   * (see DEFAULT_SECRET_KEY_WORDS). A regular expression (or its source, matched
   * case-insensitively) tested against each key replaces that list; false
   * stores everything as given.
   */
  redactKeys?: string | RegExp | boolean;
}

/**
 * Why a {@link TelemetryError} was raised: a failed write (rows kept), rows
 * dropped at the buffer cap, or rows lost at close.
 *
 * @example
 * onError: (e) => { if (e.code === 'HITLOOP_TELEMETRY_DROPPED') metrics.add('telemetry_dropped', e.dropped); }
 */
export type TelemetryErrorCode =
  | 'HITLOOP_TELEMETRY_WRITE'
  | 'HITLOOP_TELEMETRY_DROPPED'
  | 'HITLOOP_TELEMETRY_LOST'
  /** Background checkpoints stopped; SQLite checkpoints while writing again. Nothing is lost. */
  | 'HITLOOP_TELEMETRY_CHECKPOINT';

/**
 * A telemetry write problem. `cause` holds the SQLite error (e.g. code
 * `SQLITE_FULL`); `buffered` and `dropped` say what it means for the data.
 *
 * @example
 * try { logger.flush(); } catch (err) {
 *   if (err instanceof TelemetryError) console.error(err.message, err.buffered);
 * }
 */
export class TelemetryError extends Error {
  readonly code: TelemetryErrorCode;
  readonly dbPath: string;
  /** Rows still in memory, waiting for a flush that succeeds. */
  readonly buffered: number;
  /** Rows given up (dropped at the buffer cap, or lost at close) that this error reports. */
  readonly dropped: number;

  constructor(
    code: TelemetryErrorCode,
    message: string,
    details: { dbPath: string; buffered: number; dropped: number; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TelemetryError';
    this.code = code;
    this.dbPath = details.dbPath;
    this.buffered = details.buffered;
    this.dropped = details.dropped;
  }
}

/**
 * What {@link TelemetryLogger.logEvent} takes.
 *
 * @example
 * const input: LogEventInput = { runId, eventType: 'injected_error', payload: { action_id: 'a1', kind: 'wrong_recipient' } };
 */
export interface LogEventInput {
  runId: string;
  eventType: EventType;
  /** A JSON object with the seed's snake_case keys. */
  payload?: TracePayload;
  /** Defaults to now. */
  timestamp?: string | Date;
  /**
   * Defaults to a random UUID. Logging the same id twice stores it once, so a
   * step that is replayed (a LangGraph node re-run on resume) is not doubled.
   */
  eventId?: string;
}

/**
 * What {@link TelemetryLogger.startRun} takes.
 *
 * @example
 * logger.startRun({ condition: 'risk_based', scenario: 'record_update', metadata: { seed: 3 } });
 */
export interface StartRunInput {
  /** Defaults to a random UUID. Starting an existing run again keeps its first row. */
  runId?: string;
  /** The experimental condition, e.g. the policy name. */
  condition?: string;
  scenario?: string;
  /** The seed's `runs.seed`: the random seed of this run, if any. */
  seed?: number;
  /** The seed's `runs.agent_version`. */
  agentVersion?: string;
  /** The seed's `runs.model`: the LLM behind the agent. */
  model?: string;
  metadata?: Record<string, unknown>;
  timestamp?: string | Date;
}

/**
 * What {@link TelemetryLogger.endRun} takes.
 *
 * @example
 * logger.endRun(runId, { success: true, metadata: { steps: 12 } });
 */
export interface EndRunInput {
  success?: boolean;
  /** The seed's `runs.validation_details`: what validation found (stored as JSON). */
  validationDetails?: Record<string, unknown>;
  /** Merged into the run's metadata (JSON merge patch: a `null` value removes a key). */
  metadata?: Record<string, unknown>;
  timestamp?: string | Date;
}

/**
 * A trace event read back from the database.
 *
 * @example
 * const decided = logger.getRunEvents(runId).filter((e: StoredTraceEvent) => e.eventType === 'approval_decided');
 */
export interface StoredTraceEvent {
  eventId: string;
  runId: string;
  /** A string, not EventType: other writers (the seed, newer versions) may use other types. */
  eventType: string;
  timestamp: string;
  payload: Record<string, unknown>;
  /** Set when the stored payload was not a JSON object; `payload` is then `{}`. */
  payloadError?: string;
  payloadRaw?: string;
}

/**
 * A run read back from the database.
 *
 * @example
 * const finished = logger.getRunsByCondition('risk_based').filter((r: StoredRun) => r.endTime !== null);
 */
export interface StoredRun {
  runId: string;
  condition: string | null;
  scenario: string | null;
  startTime: string | null;
  endTime: string | null;
  success: boolean | null;
  metadata: Record<string, unknown>;
  /** Set when the stored metadata was not a JSON object; `metadata` is then `{}`. */
  metadataError?: string;
  metadataRaw?: string;
}

/**
 * Counters for monitoring the logger.
 *
 * @example
 * const { buffered, failing }: TelemetryStats = logger.stats;
 */
export interface TelemetryStats {
  /** Rows in memory, not yet written. */
  buffered: number;
  /**
   * Records handed to {@link TelemetryLogger.later} and not yet run: not
   * rows yet (the proxy's allowed calls wait here until the next turn of the
   * event loop), each a row, or a column of one, once it runs.
   */
  deferred: number;
  /** Rows written since the logger was opened. */
  written: number;
  /** Rows dropped at the buffer cap or lost at close since the logger was opened. */
  dropped: number;
  /** True between a failed flush and the next successful one. */
  failing: boolean;
}

const EVENT = 0;
const RUN_START = 1;
const RUN_END = 2;
/** An allowed call's proposal: the compact row. */
const CALL = 3;
/** The start, then the end, of a compact call: its row's columns, or a row update. */
const CALL_START = 4;
const CALL_END = 5;
type OpKind =
  | typeof EVENT
  | typeof RUN_START
  | typeof RUN_END
  | typeof CALL
  | typeof CALL_START
  | typeof CALL_END;

// One shape for every buffered row keeps the flush loop monomorphic.
interface Op {
  kind: OpKind;
  /** event_id for events, run_id for runs. */
  id: string;
  runId: string;
  /** event_type for events; condition for run starts. */
  text: string | null;
  timestamp: string;
  /** payload or metadata JSON. */
  json: string | null;
  /** scenario for run starts. */
  extra: string | null;
  success: number | null;
  /** The seed's other run columns: seed, agent_version, model (starts); validation_details (ends). */
  run: RunColumns | null;
  /** The compact call a CALL, CALL_START or CALL_END op belongs to (`json` holds an end's duration). */
  call: CompactCall | null;
}

/** What a committed batch wrote that the logger remembers: compact rows and new arguments. */
interface WrittenBatch {
  calls: CompactCall[];
  newArgs: Map<string, number>;
  newShapes: Map<string, number>;
}

interface RunColumns {
  seed?: number | null;
  agentVersion?: string | null;
  model?: string | null;
  validationDetails?: string | null;
}

const MAX_BACKOFF_MS = 5000;

/**
 * Records runs and trace events in SQLite, in the seed's tables and payload
 * keys. Rows are buffered and written in one transaction per flush (when
 * `batchSize` rows are waiting, after `flushIntervalMs`, on `flush()`,
 * `close()`, queries, and at process exit), so logging costs the agent
 * microseconds. Several processes may write one file (WAL, busy timeout).
 *
 * A failing disk does not crash the caller unless `required` is set: the
 * failure is reported once, rows stay in memory (up to `maxBuffered`) and are
 * written by the next flush that succeeds.
 *
 * @example
 * const telemetry = new TelemetryLogger({ dbPath: '.hitloop/telemetry.db' });
 * const runId = telemetry.startRun({ condition: 'risk_based', scenario: 'email_draft' });
 * telemetry.logActionProposed(runId, action);
 * telemetry.logApprovalDecided(runId, decision, { policyName: 'risk_based' });
 * telemetry.endRun(runId, { success: true });
 * telemetry.close();
 */
export class TelemetryLogger {
  readonly dbPath: string;
  readonly required: boolean;
  private readonly db: SqliteDatabase;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly onError: (error: TelemetryError) => void;
  private readonly checkpointer: WalCheckpointer | undefined;
  private readonly isSecret: SecretKeyTest | undefined;
  private readonly writeBatch: (ops: readonly Op[]) => WrittenBatch;
  private readonly selectRunEvents: SqliteStatement;
  private readonly selectRunsByCondition: SqliteStatement;
  private readonly selectRun: SqliteStatement;
  private readonly exitFlush = () => this.flushAtExit();

  private pending: Op[] = [];
  /**
   * Buffered starts and ends of compact calls: columns of their call's row,
   * not rows, so they do not count toward `batchSize` (a flush every
   * `batchSize` calls rather than every third of it).
   */
  private steps = 0;
  /** Index of the oldest live row in `pending`; rows before it were dropped. */
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;
  private closed = false;
  /** The failure of the last flush, cleared by the next successful one. */
  private failure: TelemetryError | undefined;
  private retryAt = 0;
  private failedFlushes = 0;
  private written = 0;
  /** Flush attempts so far: tells the compact rows of this attempt from older ones. */
  private attempts = 0;
  /** Allowed calls proposed and not yet ended, by action id: where their start and end go. */
  private readonly openCalls = new Map<string, CompactCall>();
  /** Stored arguments JSON -> its tool_args id, so each distinct value is stored once. */
  private readonly argsIds = new Map<string, number>();
  /** A call's shape (shapeKey) -> its call_shapes id, so each distinct shape is stored once. */
  private readonly shapeIds = new Map<string, number>();
  private droppedTotal = 0;
  private droppedUnreported = 0;
  /** Records handed to {@link later}, run at the next setImmediate or before any other write. */
  private deferred: Array<() => void> = [];
  private deferredScheduled = false;
  private runningDeferred = false;
  private readonly runDeferredSoon = () => {
    this.deferredScheduled = false;
    this.runDeferred();
  };

  /** Just the database path, as in the Python hitloop: `new TelemetryLogger('experiment.db')`. */
  constructor(dbPath: string);
  constructor(options: TelemetryLoggerOptions);
  constructor(pathOrOptions: TelemetryLoggerOptions | string) {
    const options = telemetryOptions(pathOrOptions);
    this.dbPath = options.dbPath;
    this.required = options.required ?? false;
    this.batchSize = positiveInt(options.batchSize ?? 500, 'batchSize');
    this.flushIntervalMs = nonNegativeInt(options.flushIntervalMs ?? 200, 'flushIntervalMs');
    this.maxBuffered = positiveInt(options.maxBuffered ?? 100_000, 'maxBuffered');
    this.onError = options.onError ?? defaultReporter();
    this.isSecret = secretKeyTest(options.redactKeys);
    this.db = openTelemetryDatabase(options.dbPath, {
      busyTimeoutMs: options.busyTimeoutMs,
      synchronous: this.required ? 'FULL' : 'NORMAL',
    });
    const dbPath = options.dbPath;
    this.checkpointer =
      options.backgroundCheckpoints === false || isMemoryDatabase(dbPath)
        ? undefined
        : new WalCheckpointer(this.db, dbPath, {
            busyTimeoutMs: options.busyTimeoutMs,
            onProblem: (reason) =>
              this.report(
                new TelemetryError('HITLOOP_TELEMETRY_CHECKPOINT', reason, {
                  dbPath,
                  buffered: 0,
                  dropped: 0,
                }),
              ),
          });

    // Every event takes the next id of the one sequence the view orders by
    // (event-view.ts); an ignored duplicate event_id gives its id back.
    const insertEvent = this.db.prepare(
      'INSERT OR IGNORE INTO stored_events (id, event_id, run_id, event_type, timestamp, payload) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const readNextId = this.db.prepare(`SELECT ${NEXT_EVENT_ID} AS next`).pluck();
    const saveNextId = this.db.prepare('UPDATE trace_event_ids SET next_id = ?');
    const insertArgs = this.db.prepare('INSERT INTO tool_args (args) VALUES (?)');
    const insertShape = this.db.prepare(
      `INSERT INTO call_shapes (tool_name, risk_class, side_effects, rationale, context_refs,
         server, annotations, policy_name, policy_reason, policy_rule)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // Allowed calls go in by CALLS_PER_INSERT rows per statement, the rest of
    // a batch one by one: one statement for 16 rows costs about a quarter
    // less per row than 16 statements in a micro-benchmark of this table
    // (6.2 against 8.7 µs per row); in the logger's whole flush, about 0.6 µs.
    const callColumns = `INSERT INTO tool_calls (id, run_id, shape_id, proposed_at, proposed_event_id, action_id,
         args_hash, args, args_id, start_id, started_at, start_event_id,
         end_id, ended_at, end_event_id, duration_ms) VALUES `;
    const callRow = `(${new Array(CALL_COLUMNS).fill('?').join(', ')})`;
    const insertCall = this.db.prepare(callColumns + callRow);
    const insertCalls = this.db.prepare(
      callColumns + new Array(CALLS_PER_INSERT).fill(callRow).join(', '),
    );
    const updateStart = this.db.prepare(
      'UPDATE tool_calls SET start_id = ?, started_at = ?, start_event_id = ? WHERE id = ? AND run_id = ?',
    );
    const updateEnd = this.db.prepare(
      'UPDATE tool_calls SET end_id = ?, ended_at = ?, end_event_id = ?, duration_ms = ? WHERE id = ? AND run_id = ?',
    );
    const insertRun = this.db.prepare(
      `INSERT INTO runs (run_id, condition_id, scenario_id, started_at, metadata, seed, agent_version, model)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(run_id) DO NOTHING`,
    );
    // An upsert, so ending a run this process did not start (another process
    // started it, or its start was dropped) still records the outcome.
    // started_at is NOT NULL (the seed's schema): such a row starts when it ended.
    const finishRun = this.db.prepare(
      `INSERT INTO runs (run_id, started_at, finished_at, task_success, metadata, validation_details)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(run_id) DO UPDATE SET
         finished_at = excluded.finished_at,
         task_success = coalesce(excluded.task_success, runs.task_success),
         validation_details = coalesce(excluded.validation_details, runs.validation_details),
         metadata = CASE
           WHEN excluded.metadata IS NULL THEN runs.metadata
           WHEN json_valid(runs.metadata) THEN json_patch(runs.metadata, excluded.metadata)
           ELSE excluded.metadata
         END`,
    );
    this.writeBatch = this.db.transaction((ops: readonly Op[]): WrittenBatch => {
      const attempt = ++this.attempts;
      let next = Number(readNextId.get());
      const calls: CompactCall[] = [];
      const newArgs = new Map<string, number>();
      const newShapes = new Map<string, number>();
      for (const op of ops) {
        switch (op.kind) {
          case EVENT:
            if (insertEvent.run(next, op.id, op.runId, op.text, op.timestamp, op.json).changes > 0)
              next++;
            break;
          case CALL: {
            const c = op.call!;
            c.id = next++;
            c.attempt = attempt;
            c.startId = 0;
            c.startedAt = null;
            c.startEventId = null;
            c.endId = 0;
            c.endedAt = null;
            c.endEventId = null;
            c.durationMs = null;
            calls.push(c);
            break;
          }
          case CALL_START: {
            const c = op.call!;
            const id = next++;
            if (c.attempt === attempt && !c.written) {
              c.startId = id;
              c.startedAt = op.timestamp;
              c.startEventId = op.id;
            } else if (
              !c.written ||
              updateStart.run(id, op.timestamp, op.id, c.id, c.runId).changes === 0
            ) {
              // Its row was dropped (disk failing) or rewritten by another tool: a full row.
              insertEvent.run(id, op.id, op.runId, op.text, op.timestamp, startPayloadJson(c));
            }
            break;
          }
          case CALL_END: {
            const c = op.call!;
            const id = next++;
            if (c.attempt === attempt && !c.written) {
              c.endId = id;
              c.endedAt = op.timestamp;
              c.endEventId = op.id;
              c.durationMs = op.json;
            } else if (
              !c.written ||
              updateEnd.run(id, op.timestamp, op.id, op.json, c.id, c.runId).changes === 0
            ) {
              insertEvent.run(
                id,
                op.id,
                op.runId,
                op.text,
                op.timestamp,
                endPayloadJson(c, op.json!),
              );
            }
            break;
          }
          case RUN_START:
            insertRun.run(
              op.id,
              op.text,
              op.extra,
              op.timestamp,
              op.json,
              op.run?.seed ?? null,
              op.run?.agentVersion ?? null,
              op.run?.model ?? null,
            );
            break;
          default:
            finishRun.run(
              op.id,
              op.timestamp,
              op.timestamp,
              op.success,
              op.json,
              op.run?.validationDetails ?? null,
            );
        }
      }
      const values: SqliteParam[] = [];
      for (const c of calls) {
        // Short arguments go in the row (one insert); long ones once per distinct value.
        let argsId: number | null = null;
        if (c.argsJson.length > INLINE_ARGS_MAX) {
          argsId = this.argsIds.get(c.argsJson) ?? newArgs.get(c.argsJson) ?? null;
          if (argsId === null) {
            argsId = Number(insertArgs.run(c.argsJson).lastInsertRowid);
            newArgs.set(c.argsJson, argsId);
          }
        }
        const key = shapeKey(c);
        let shapeId = this.shapeIds.get(key) ?? newShapes.get(key);
        if (shapeId === undefined) {
          shapeId = Number(
            insertShape.run(
              c.toolName,
              c.riskClass,
              c.sideEffects,
              c.rationale,
              c.contextRefs,
              c.server,
              c.annotations,
              c.policyName,
              c.policyReason,
              c.policyRule,
            ).lastInsertRowid,
          );
          newShapes.set(key, shapeId);
        }
        values.push(
          c.id,
          c.runId,
          shapeId,
          c.proposedAt,
          c.proposedEventId,
          c.actionId,
          c.argsHash,
          argsId === null ? c.argsJson : null,
          argsId,
          c.startId || null,
          c.startedAt,
          c.startEventId,
          c.endId || null,
          c.endedAt,
          c.endEventId,
          c.durationMs,
        );
        if (values.length === CALL_COLUMNS * CALLS_PER_INSERT) {
          insertCalls.run(values);
          values.length = 0;
        }
      }
      for (let i = 0; i < values.length; i += CALL_COLUMNS)
        insertCall.run(values.slice(i, i + CALL_COLUMNS));
      saveNextId.run(next);
      return { calls, newArgs, newShapes };
    }).immediate;
    // id is insertion order, which for one logger is the order events were logged.
    this.selectRunEvents = this.db.prepare(
      'SELECT event_id, run_id, event_type, timestamp, payload FROM trace_events WHERE run_id = ? ORDER BY id',
    );
    this.selectRunsByCondition = this.db.prepare(
      `SELECT ${RUN_SELECT} FROM runs WHERE condition_id = ? ORDER BY started_at, id`,
    );
    this.selectRun = this.db.prepare(`SELECT ${RUN_SELECT} FROM runs WHERE run_id = ?`);
    trackForExit(this.exitFlush);
  }

  /**
   * The underlying SQLite connection (better-sqlite3, or node:sqlite behind
   * the same interface; see sqliteDriverName), for queries this class does
   * not offer. Writing through it bypasses the buffer's ordering.
   *
   * @example
   * logger.database.prepare('SELECT event_type, count(*) AS n FROM trace_events GROUP BY 1').all();
   */
  get database(): SqliteDatabase {
    return this.db;
  }

  /**
   * Counters for health checks and tests.
   *
   * @example
   * if (logger.stats.failing) console.warn(`${logger.stats.buffered} telemetry rows waiting`);
   */
  get stats(): TelemetryStats {
    return {
      buffered: this.pending.length - this.head,
      deferred: this.deferred.length,
      written: this.written,
      dropped: this.droppedTotal,
      failing: this.failure !== undefined,
    };
  }

  /**
   * Records the start of a run (a `runs` row and a `run_start` event) and
   * returns its id.
   *
   * @example
   * const runId = logger.startRun({ condition: 'audit_plus_escalate', scenario: 'record_update', metadata: { seed: 7 } });
   */
  startRun(input: StartRunInput = {}): string {
    this.beforeWrite();
    const runId = input.runId ?? uuidv7();
    requireId(runId, 'runId');
    const timestamp = toIso(input.timestamp);
    const condition = input.condition ?? null;
    const scenario = input.scenario ?? null;
    const run: RunColumns = {
      seed: input.seed ?? null,
      agentVersion: input.agentVersion ?? null,
      model: input.model ?? null,
    };
    this.enqueue({
      kind: RUN_START,
      id: runId,
      runId,
      text: condition,
      timestamp,
      json: objectJson(input.metadata, 'metadata'),
      extra: scenario,
      success: null,
      run,
      call: null,
    });
    // The seed's run_start keys, then ours (condition, scenario) as before.
    this.enqueueEvent(
      uuidv7(),
      runId,
      'run_start',
      timestamp,
      objectJson({
        scenario_id: scenario,
        condition_id: condition,
        agent_version: run.agentVersion,
        model: run.model,
        seed: run.seed,
        condition,
        scenario,
      }),
    );
    this.afterEnqueue(2);
    return runId;
  }

  /**
   * Records the end of a run: end time, outcome, extra metadata, and a
   * `run_end` event.
   *
   * @example
   * logger.endRun(runId, { success: false, metadata: { wrong_recipient: true } });
   */
  endRun(runId: string, input: EndRunInput = {}): void {
    this.beforeWrite();
    requireId(runId, 'runId');
    const timestamp = toIso(input.timestamp);
    const success = input.success === undefined ? null : input.success ? 1 : 0;
    const details =
      input.validationDetails === undefined
        ? null
        : objectJson(input.validationDetails, 'validationDetails');
    this.enqueue({
      kind: RUN_END,
      id: runId,
      runId,
      text: null,
      timestamp,
      json: input.metadata === undefined ? null : objectJson(input.metadata, 'metadata'),
      extra: null,
      success,
      run: { validationDetails: details },
      call: null,
    });
    // The seed's run_end keys (task_success, validation_details), then ours.
    this.enqueueEvent(
      uuidv7(),
      runId,
      'run_end',
      timestamp,
      `{"task_success":${input.success ?? null},"validation_details":${details ?? '{}'},"success":${input.success ?? null}}`,
    );
    this.afterEnqueue(2);
  }

  /**
   * Buffers one trace event and returns its id. Throws a TypeError for an
   * unknown event type or a payload that is not a JSON object. With
   * `required`, a write failure is thrown, and then this event was not recorded.
   *
   * @example
   * logger.logEvent({ runId, eventType: 'llm_call', payload: { model: 'gpt-4o', latency_ms: 812 } });
   */
  logEvent(input: LogEventInput): string {
    this.beforeWrite();
    const eventType = input.eventType;
    if (!KNOWN_EVENT_TYPES.has(eventType)) {
      throw new TypeError(
        `unknown telemetry event type ${JSON.stringify(eventType)}; expected one of ${EventType.options.join(', ')}`,
      );
    }
    requireId(input.runId, 'runId');
    // A replayable event (its own id) stays a full row: only those are deduplicated.
    if (input.eventId === undefined && input.payload) {
      const compact = this.compactOp(input.runId, eventType, input.payload, input.timestamp);
      if (compact !== undefined) {
        this.pending.push(compact);
        if (compact.kind !== CALL) this.steps++;
        this.afterEnqueue(1);
        return compact.id;
      }
    }
    const eventId = input.eventId ?? uuidv7();
    if (input.eventId !== undefined) requireId(eventId, 'eventId');
    this.enqueueEvent(
      eventId,
      input.runId,
      eventType,
      toIso(input.timestamp),
      objectJson(this.redacted(input.payload)),
    );
    this.afterEnqueue(1);
    return eventId;
  }

  /**
   * The op of an allowed call's proposal, start or successful end in the
   * compact form (compact-calls.ts), or undefined for a full row.
   */
  private compactOp(
    runId: string,
    eventType: string,
    payload: TracePayload,
    at: string | Date | undefined,
  ): Op | undefined {
    const actionId = payload.action_id;
    if (typeof actionId !== 'string') return undefined;
    if (eventType === 'action_proposed') {
      const timestamp = toIso(at);
      const call = compactProposal(payload, runId, timestamp, this.argsJson);
      if (call === undefined) return undefined;
      const eventId = uuidv7();
      call.proposedEventId = eventId;
      remember(this.openCalls, actionId, call);
      return callOp(CALL, eventId, runId, eventType, timestamp, null, call);
    }
    const call = this.openCalls.get(actionId);
    if (call === undefined || call.runId !== runId) return undefined;
    if (eventType === 'tool_execution_start') {
      if (call.startLogged || !isCompactStart(payload, call)) return undefined;
      call.startLogged = true;
      return callOp(CALL_START, uuidv7(), runId, eventType, toIso(at), null, call);
    }
    if (eventType !== 'tool_execution_end') return undefined;
    const duration = compactEndDuration(payload, call);
    this.openCalls.delete(actionId);
    if (duration === undefined) return undefined;
    return callOp(CALL_END, uuidv7(), runId, eventType, toIso(at), duration, call);
  }

  /** The stored JSON of tool arguments: secrets redacted (see `redactKeys`). */
  private readonly argsJson = (args: object): string | undefined => {
    const text = JSON.stringify(this.isSecret ? redactSecrets(args, this.isSecret) : args);
    return text !== undefined && text.charCodeAt(0) === 123 ? text : undefined;
  };

  /** The payload with secrets in its tool arguments hashed (see `redactKeys`). */
  private redacted(payload: TracePayload | undefined): TracePayload | undefined {
    const isSecret = this.isSecret;
    if (!isSecret || !payload) return payload;
    let out = payload;
    for (const key of ARGS_KEYS) {
      const value = payload[key];
      if (value === null || typeof value !== 'object') continue;
      const redacted = redactSecrets(value, isSecret);
      if (redacted !== value) out = { ...out, [key]: redacted };
    }
    return out;
  }

  /**
   * Logs one event and commits it to disk, with every row buffered before
   * it, before returning: for an event that must be on record before what it
   * describes happens (a call is forwarded only once its start is durable).
   * Throws the TelemetryError when the commit fails, whether or not the
   * logger is `required`; this event is then withdrawn (never written later,
   * so the record cannot claim what did not happen), while earlier rows stay
   * buffered for the next flush. Costs one transaction, synced to disk with
   * `required` (synchronous FULL).
   *
   * @example
   * try { logger.logEventDurably({ runId, eventType: 'tool_execution_start', payload }); }
   * catch (err) { return refuse(`not run: ${(err as Error).message}`); }
   */
  logEventDurably(input: LogEventInput): string {
    // logEvent may itself flush (batchSize) and throw, having withdrawn the event.
    const eventId = this.logEvent(input);
    const op = this.pending[this.pending.length - 1];
    const withdraw = () => {
      const at = op === undefined ? -1 : this.pending.lastIndexOf(op);
      if (at >= this.head) this.pending.splice(at, 1);
      this.recountSteps();
    };
    try {
      if (this.flushNow(true)) return eventId;
    } catch (err) {
      withdraw();
      throw err;
    }
    // Without `required` flushNow reports instead of throwing; withdraw and throw either way.
    withdraw();
    throw (
      this.failure ??
      new TelemetryError('HITLOOP_TELEMETRY_WRITE', `could not write telemetry to ${this.dbPath}`, {
        dbPath: this.dbPath,
        buffered: this.pending.length - this.head,
        dropped: 0,
      })
    );
  }

  /**
   * Logs an `action_proposed` event from an Action.
   *
   * @example
   * logger.logActionProposed(runId, createAction({ toolName: 'send_email', toolArgs: { to: 'a@b.c' } }));
   */
  logActionProposed(runId: string, action: Action): string {
    return this.logEvent({
      runId,
      eventType: 'action_proposed',
      payload: actionProposedPayload(action),
    });
  }

  /**
   * Logs the `action_proposed` event of an Action with the policy's verdict
   * on it, as the approval gate does (`policy_name`, `policy_verdict`,
   * `policy_reason`, `policy_rule` after the action's keys).
   *
   * @example
   * logger.logActionVerdict(runId, action, 'risk_based', { verdict: 'allow', reason: 'low risk' });
   */
  logActionVerdict(
    runId: string,
    action: Action,
    policyName: string,
    verdict: PolicyDecision,
    timestamp?: string | Date,
  ): string {
    return this.logEvent({
      runId,
      eventType: 'action_proposed',
      payload: actionVerdictPayload(action, policyName, verdict),
      timestamp,
    });
  }

  /**
   * Logs an `approval_requested` event from an ApprovalRequest.
   *
   * @example
   * logger.logApprovalRequested(request.runId, request);
   */
  logApprovalRequested(
    runId: string,
    request: ApprovalRequest,
    channel?: string,
    timestamp?: string | Date,
  ): string {
    return this.logEvent({
      runId,
      eventType: 'approval_requested',
      payload: approvalRequestedPayload(request, channel),
      timestamp,
    });
  }

  /**
   * Logs an `llm_call` event with the seed's keys (tokens_in, tokens_out, ...).
   *
   * @example
   * logger.logLlmCall(runId, { model: 'gpt-4o-mini', tokensIn: 812, tokensOut: 64, latencyMs: 930 });
   */
  logLlmCall(runId: string, call: LlmCall): string {
    return this.logEvent({ runId, eventType: 'llm_call', payload: llmCallPayload(call) });
  }

  /**
   * Logs an `approval_decided` event from a Decision.
   *
   * @example
   * logger.logApprovalDecided(runId, decision, { toolName: action.toolName, policyName: policy.name });
   */
  logApprovalDecided(
    runId: string,
    decision: Decision,
    context?: DecisionContext,
    timestamp?: string | Date,
  ): string {
    return this.logEvent({
      runId,
      eventType: 'approval_decided',
      payload: approvalDecidedPayload(decision, context),
      timestamp,
    });
  }

  /**
   * Logs a `tool_execution_start` event; pass the arguments that actually run.
   *
   * @example
   * logger.logToolExecutionStart(runId, action, decision.editedArgs ?? action.toolArgs);
   */
  logToolExecutionStart(
    runId: string,
    action: Action,
    argsToRun?: Record<string, unknown>,
    timestamp?: string | Date,
  ): string {
    return this.logEvent({
      runId,
      eventType: 'tool_execution_start',
      payload: toolExecutionStartPayload(action, argsToRun),
      timestamp,
    });
  }

  /**
   * Logs a `tool_execution_end` event from a ToolResult.
   *
   * @example
   * logger.logToolExecutionEnd(runId, { actionId: 'a1', success: true, durationMs: 31, executed: true });
   */
  logToolExecutionEnd(
    runId: string,
    result: ToolResult,
    options?: { includeOutput?: boolean; timestamp?: string | Date },
  ): string {
    return this.logEvent({
      runId,
      eventType: 'tool_execution_end',
      payload: toolExecutionEndPayload(result, options),
      timestamp: options?.timestamp,
    });
  }

  /**
   * Logs an `error` event from anything thrown.
   *
   * @example
   * catch (err) { logger.logError(runId, err, { action_id: action.id }); }
   */
  logError(runId: string, error: unknown, extra?: TracePayload): string {
    return this.logEvent({ runId, eventType: 'error', payload: errorPayload(error, extra) });
  }

  /**
   * Runs `record` (calls to this logger's log methods) soon rather than now:
   * at the next turn of the event loop, or before any other write, read,
   * flush or close of this logger, whichever comes first, so records keep
   * the order they were handed over in. For a caller whose own work must not
   * wait for the recording (the proxy relays an allowed call's answer first,
   * then records it). Pass the event's time as `timestamp`, or it is stamped
   * when `record` runs. Nothing is lost that a buffered row would keep: the
   * exit hook runs what is left. A `record` that throws is reported through
   * `onError`; catch inside it to handle failures yourself.
   *
   * @example
   * const at = new Date();
   * logger.later(() => logger.logToolExecutionStart(runId, action, args, at));
   */
  later(record: () => void): void {
    this.deferred.push(record);
    if (this.deferredScheduled || this.runningDeferred) return;
    this.deferredScheduled = true;
    setImmediate(this.runDeferredSoon);
  }

  /** Runs the records handed to {@link later} so far, in order. */
  private runDeferred(): void {
    if (this.runningDeferred) return;
    this.runningDeferred = true;
    try {
      // Records may hand over more records; those run in this same pass.
      for (let i = 0; i < this.deferred.length; i++) {
        try {
          this.deferred[i]!();
        } catch (cause) {
          this.report(
            new TelemetryError(
              'HITLOOP_TELEMETRY_WRITE',
              `could not record an event in ${this.dbPath}: ${describe(cause)}`,
              { dbPath: this.dbPath, buffered: this.pending.length - this.head, dropped: 1, cause },
            ),
          );
        }
      }
    } finally {
      this.deferred = [];
      this.runningDeferred = false;
    }
  }

  /**
   * A run's events in the order they were logged. Flushes first, so buffered
   * events are included (unless the disk is failing and `required` is off).
   *
   * @example
   * const types = logger.getRunEvents(runId).map((e) => e.eventType);
   */
  getRunEvents(runId: string): StoredTraceEvent[] {
    this.flushForRead();
    return this.selectRunEvents.all(runId).map((row) => toStoredEvent(row as RawEventRow));
  }

  /**
   * The runs of one condition, oldest first (flushes first).
   *
   * @example
   * const successRate = logger.getRunsByCondition('risk_based').filter((r) => r.success).length;
   */
  getRunsByCondition(condition: string): StoredRun[] {
    this.flushForRead();
    return this.selectRunsByCondition.all(condition).map((row) => toStoredRun(row as RawRunRow));
  }

  /**
   * One run, or undefined (flushes first).
   *
   * @example
   * logger.getRun(runId)?.endTime
   */
  getRun(runId: string): StoredRun | undefined {
    this.flushForRead();
    const row = this.selectRun.get(runId) as RawRunRow | undefined;
    return row === undefined ? undefined : toStoredRun(row);
  }

  /**
   * Writes every buffered row in one transaction. Without `required`, a
   * failure is reported through onError and the rows stay buffered; with it,
   * the TelemetryError is thrown.
   *
   * @example
   * logger.flush(); // before handing the file to an analysis script
   */
  flush(): void {
    if (this.closed) return;
    this.flushNow(true);
  }

  /**
   * Flushes and closes the database. With `required`, a failed flush throws
   * and the logger stays open (nothing lost; fix the disk and close again).
   * Without it, rows that cannot be written are reported as lost and the
   * logger closes. Calling it twice is harmless.
   *
   * @example
   * process.on('SIGTERM', () => { logger.close(); process.exit(0); });
   */
  close(): void {
    if (this.closed) return;
    if (!this.flushNow(true)) this.reportLost();
    this.closed = true;
    this.clearTimer();
    untrackForExit(this.exitFlush);
    // First, so this connection is the last one: its close then checkpoints and removes the log.
    this.checkpointer?.close();
    this.db.close();
  }

  private beforeWrite(): void {
    if (this.closed) throw new Error(`TelemetryLogger for ${this.dbPath} is closed`);
    // Records handed to later() go first: the order of events is the order they happened in.
    if (this.deferred.length > 0) this.runDeferred();
    // Fail closed: after a failed background flush, nothing more is accepted
    // until the buffered rows can be written.
    if (this.required && this.failure !== undefined) this.flushNow(true);
  }

  private enqueueEvent(
    eventId: string,
    runId: string,
    eventType: string,
    timestamp: string,
    payload: string,
  ): void {
    this.enqueue({
      kind: EVENT,
      id: eventId,
      runId,
      text: eventType,
      timestamp,
      json: payload,
      extra: null,
      success: null,
      run: null,
      call: null,
    });
  }

  private enqueue(op: Op): void {
    this.pending.push(op);
  }

  /** Enforces the buffer cap and the flush triggers after a call added `added` rows. */
  private afterEnqueue(added: number): void {
    let size = this.pending.length - this.head;
    if (size > this.maxBuffered) {
      this.dropOldest(size - this.maxBuffered);
      size = this.maxBuffered;
    }
    if (size - this.steps >= this.batchSize) {
      // While the disk is failing, retry on the backoff schedule rather than
      // on every event.
      if (this.failure !== undefined && !this.required && Date.now() < this.retryAt) return;
      try {
        this.flushNow(true);
      } catch (err) {
        // Only reached with `required`: the caller gets the error, so this
        // call's rows must not be written later behind its back.
        this.pending.length -= added;
        this.recountSteps();
        throw err;
      }
    } else if (this.timer === undefined && this.flushIntervalMs > 0) {
      this.schedule(this.flushIntervalMs);
    }
  }

  private recountSteps(): void {
    let steps = 0;
    for (let i = this.head; i < this.pending.length; i++) {
      const kind = this.pending[i]!.kind;
      if (kind === CALL_START || kind === CALL_END) steps++;
    }
    this.steps = steps;
  }

  private dropOldest(count: number): void {
    for (let i = 0; i < count; i++) {
      const kind = this.pending[this.head + i]!.kind;
      if (kind === CALL_START || kind === CALL_END) this.steps--;
      this.pending[this.head + i] = undefined as unknown as Op;
    }
    this.head += count;
    this.droppedTotal += count;
    this.droppedUnreported += count;
    // Compact now and then so dropping stays O(1) per row on average.
    if (this.head > 4096 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  /** Returns true when everything buffered is on disk. Throws only when `required` and `fromCaller`. */
  private flushNow(fromCaller: boolean): boolean {
    // onError may log or flush; the outer flush will pick those rows up.
    if (this.flushing) return false;
    if (this.deferred.length > 0) this.runDeferred();
    this.clearTimer();
    if (this.pending.length === this.head) return true;
    const batch = this.head === 0 ? this.pending : this.pending.slice(this.head);
    this.pending = [];
    this.head = 0;
    this.steps = 0;
    this.flushing = true;
    try {
      const done = this.writeBatch(batch);
      for (const c of done.calls) c.written = true;
      for (const [json, id] of done.newArgs) remember(this.argsIds, json, id);
      for (const [key, id] of done.newShapes) remember(this.shapeIds, key, id);
      this.written += batch.length;
      this.checkpointer?.afterCommit();
      this.failure = undefined;
      this.failedFlushes = 0;
      if (this.droppedUnreported > 0) this.reportDropped();
      return true;
    } catch (cause) {
      this.pending = this.pending.length === 0 ? batch : batch.concat(this.pending);
      this.recountSteps();
      const firstFailure = this.failure === undefined;
      this.failure = new TelemetryError(
        'HITLOOP_TELEMETRY_WRITE',
        `could not write telemetry to ${this.dbPath} (${describe(cause)}); ` +
          `${this.pending.length} row(s) kept in memory${this.required ? '' : ' and retried'}`,
        { dbPath: this.dbPath, buffered: this.pending.length, dropped: 0, cause },
      );
      const backoffMs = backoffDelay(this.failedFlushes++, {
        initialMs: Math.max(this.flushIntervalMs, 50),
        maxMs: MAX_BACKOFF_MS,
      });
      this.retryAt = Date.now() + backoffMs;
      if (!this.closed) this.schedule(backoffMs);
      if (this.droppedUnreported > 0) this.reportDropped();
      if (this.required && fromCaller) throw this.failure;
      if (firstFailure) this.report(this.failure);
      return false;
    } finally {
      this.flushing = false;
    }
  }

  private flushForRead(): void {
    if (this.closed) throw new Error(`TelemetryLogger for ${this.dbPath} is closed`);
    this.flushNow(true);
  }

  private flushAtExit(): void {
    if (this.closed) return;
    if (!this.flushNow(false)) this.reportLost();
    this.closed = true;
    untrackForExit(this.exitFlush);
    try {
      this.checkpointer?.close();
      this.db.close();
    } catch {
      // The process is ending; the file is consistent without a clean close.
    }
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushNow(false);
    }, delayMs);
    // Telemetry must never keep a finished process alive; the exit hook
    // writes whatever the timer did not.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private reportDropped(): void {
    const count = this.droppedUnreported;
    this.droppedUnreported = 0;
    this.report(
      new TelemetryError(
        'HITLOOP_TELEMETRY_DROPPED',
        `dropped the ${count} oldest telemetry row(s) for ${this.dbPath}: more than ${this.maxBuffered} were waiting for a failing disk`,
        { dbPath: this.dbPath, buffered: this.pending.length - this.head, dropped: count },
      ),
    );
  }

  private reportLost(): void {
    const count = this.pending.length - this.head;
    this.pending = [];
    this.head = 0;
    this.steps = 0;
    this.droppedTotal += count;
    this.report(
      new TelemetryError(
        'HITLOOP_TELEMETRY_LOST',
        `closing ${this.dbPath} with ${count} telemetry row(s) that could not be written; they are lost (${this.failure?.cause === undefined ? 'write failed' : describe(this.failure.cause)})`,
        { dbPath: this.dbPath, buffered: 0, dropped: count, cause: this.failure?.cause },
      ),
    );
  }

  private report(error: TelemetryError): void {
    try {
      this.onError(error);
    } catch {
      // A broken reporter must not turn a telemetry problem into an agent crash.
    }
  }
}

interface RawEventRow {
  event_id: unknown;
  run_id: unknown;
  event_type: unknown;
  timestamp: unknown;
  payload: unknown;
}

/** The runs columns read back, under the names StoredRun maps from. */
const RUN_SELECT =
  'run_id, condition_id AS condition, scenario_id AS scenario, started_at AS start_time, finished_at AS end_time, task_success AS success, metadata';

interface RawRunRow {
  run_id: unknown;
  condition: unknown;
  scenario: unknown;
  start_time: unknown;
  end_time: unknown;
  success: unknown;
  metadata: unknown;
}

// Rows are read tolerantly rather than with zod: the file may come from the
// seed or another tool, and one odd row should not hide all the others.
function toStoredEvent(row: RawEventRow): StoredTraceEvent {
  const payload = parseStoredObject(row.payload);
  const event: StoredTraceEvent = {
    eventId: textOrNull(row.event_id) ?? '',
    runId: textOrNull(row.run_id) ?? '',
    eventType: textOrNull(row.event_type) ?? '',
    timestamp: textOrNull(row.timestamp) ?? '',
    payload: payload.ok ? payload.value : {},
  };
  if (!payload.ok) {
    event.payloadError = payload.error;
    event.payloadRaw = payload.raw;
  }
  return event;
}

function toStoredRun(row: RawRunRow): StoredRun {
  const metadata = parseStoredObject(row.metadata);
  const run: StoredRun = {
    runId: textOrNull(row.run_id) ?? '',
    condition: textOrNull(row.condition),
    scenario: textOrNull(row.scenario),
    startTime: textOrNull(row.start_time),
    endTime: textOrNull(row.end_time),
    success: successFlag(row.success),
    metadata: metadata.ok ? metadata.value : {},
  };
  if (!metadata.ok) {
    run.metadataError = metadata.error;
    run.metadataRaw = metadata.raw;
  }
  return run;
}

function nowIso(): string {
  return isoText(Date.now());
}

function toIso(timestamp: string | Date | undefined): string {
  if (timestamp === undefined) return nowIso();
  if (typeof timestamp === 'string') return timestamp;
  if (timestamp instanceof Date && !Number.isNaN(timestamp.getTime()))
    return isoText(timestamp.getTime());
  throw new TypeError('timestamp must be an ISO-8601 string or a valid Date');
}

// Every allowed call stamps three events, within a few milliseconds of each
// other: formatting a Date each time cost about 1.4 µs on a 2-core machine.
// The text up to the second is kept and the milliseconds appended, which
// gives toISOString()'s text for every time of years 0000-9999.
let isoSecond = Number.NaN;
let isoPrefix = '';
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_800_000;

/** `new Date(ms).toISOString()`, faster for times close together. */
function isoText(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= LAST_FOUR_DIGIT_YEAR_MS)
    return new Date(ms).toISOString();
  const millis = ms % 1000;
  const second = ms - millis;
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second).toISOString().slice(0, 20); // '2026-12-06T00:48:16.'
  }
  return `${isoPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

function objectJson(value: unknown, what = 'payload'): string {
  if (value === undefined || value === null) return '{}';
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`telemetry ${what} is not JSON-serialisable: ${describe(err)}`);
  }
  // Cheaper than inspecting the value: only an object serialises to '{...}'.
  if (text === undefined || text.charCodeAt(0) !== 123) {
    throw new TypeError(`telemetry ${what} must be a JSON object`);
  }
  return text;
}

function requireId(value: unknown, name: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string`);
  }
}

function callOp(
  kind: OpKind,
  eventId: string,
  runId: string,
  eventType: string,
  timestamp: string,
  json: string | null,
  call: CompactCall,
): Op {
  return {
    kind,
    id: eventId,
    runId,
    text: eventType,
    timestamp,
    json,
    extra: null,
    success: null,
    run: null,
    call,
  };
}

/** Arguments JSON up to this length is stored in the call's row; longer, once in tool_args. */
const INLINE_ARGS_MAX = 512;
/** The columns of a tool_calls row, and how many rows one multi-row insert holds. */
const CALL_COLUMNS = 16;
const CALLS_PER_INSERT = 16;

/**
 * What tells one call shape from another. The fields are plain text (no
 * control characters, see compact-calls.ts) or JSON, so NUL never occurs in
 * them and joins them unambiguously; a null server or annotations is `\u0001`.
 */
function shapeKey(c: CompactCall): string {
  return `${c.toolName}\0${c.riskClass}\0${c.sideEffects}\0${c.rationale}\0${c.contextRefs}\0${c.server ?? '\u0001'}\0${c.annotations ?? '\u0001'}\0${c.policyName}\0${c.policyReason}\0${c.policyRule ?? '\u0001'}`;
}

/** Map.set with a bound: past MAX_REMEMBERED entries the oldest is forgotten. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value as string);
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function nonNegativeInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`${name} must be an integer >= 0`);
  return value;
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

function defaultReporter(): (error: TelemetryError) => void {
  return (error) => {
    process.stderr.write(`hitloop telemetry: ${error.message}\n`);
  };
}

// One 'exit' listener for all loggers, so opening many does not trip Node's
// listener-leak warning; it is removed when the last logger closes.
const exitFlushers = new Set<() => void>();

function flushAllAtExit(): void {
  for (const flush of [...exitFlushers]) flush();
}

function trackForExit(flush: () => void): void {
  if (exitFlushers.size === 0) process.on('exit', flushAllAtExit);
  exitFlushers.add(flush);
}

function untrackForExit(flush: () => void): void {
  exitFlushers.delete(flush);
  if (exitFlushers.size === 0) process.off('exit', flushAllAtExit);
}

/** The options form of what the constructor was given; a string is the database path. */
function telemetryOptions(given: TelemetryLoggerOptions | string): TelemetryLoggerOptions {
  if (typeof given === 'string') return { dbPath: given };
  if (typeof given?.dbPath !== 'string') {
    throw new TypeError(
      "TelemetryLogger needs a database path: new TelemetryLogger('telemetry.db') or new TelemetryLogger({ dbPath: 'telemetry.db' })",
    );
  }
  return given;
}
