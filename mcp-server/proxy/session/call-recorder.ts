import type { GateLogger } from '../../../shared/gate/approval-gate.js';
import type { Action } from '../../../shared/models/action.js';
import type { ToolResult } from '../../../shared/models/tool-result.js';
import type { TelemetryLogger } from '../../../shared/telemetry/logger.js';
import { toolExecutionStartPayload } from '../../../shared/telemetry/payloads.js';
import type { Logger } from '../log.js';

/**
 * How the proxy records a call in telemetry, in one of two modes.
 *
 * - `telemetry.required`: every record is written before what it describes
 *   happens: the gate's records and the start are committed and synced
 *   before the call is forwarded (a failure refuses the call), the end
 *   before the answer is relayed.
 * - Otherwise (the default) the records are buffered and written in the
 *   background, and a crash may lose the last ones. Recording is then also
 *   taken off the call's path: each record is handed to
 *   `TelemetryLogger.later` with the time it happened, and built, compacted
 *   and written after the answer has gone out. An allowed call then costs
 *   its caller a few closures; the rest runs while the client reads the
 *   answer (on another core, when there is one). The stored rows are the same.
 *
 * A failed background write is reported (a warning naming the event), never
 * thrown into the call: it has already gone ahead.
 *
 * @example
 * const recorder = new CallRecorder(telemetry, runId, log);
 * await gateAction(action, { ...options, logger: recorder.gateLogger });
 * recorder.start(action, args); // with `required`, throws when the record cannot be written: do not forward
 * // ... forward, then on the answer:
 * recorder.end({ actionId: action.id, success: true, durationMs, executed: true });
 */
export class CallRecorder {
  /** What the gate logs to. */
  readonly gateLogger: GateLogger;

  constructor(
    private readonly telemetry: TelemetryLogger,
    private readonly runId: string,
    private readonly log: Logger,
  ) {
    this.gateLogger = telemetry.required ? telemetry : this.deferredGateLogger();
  }

  /**
   * Records a call's start before it is forwarded. With `required` it is
   * committed and synced first, with what the gate logged before it; when
   * that fails the error is thrown, and the call must not be forwarded.
   */
  start(action: Action, args: Record<string, unknown>): void {
    const telemetry = this.telemetry;
    const runId = this.runId;
    if (!telemetry.required) {
      const at = new Date();
      this.later('tool_execution_start', () =>
        telemetry.logToolExecutionStart(runId, action, args, at),
      );
      return;
    }
    telemetry.logEventDurably({
      runId,
      eventType: 'tool_execution_start',
      payload: toolExecutionStartPayload(action, args),
    });
  }

  /**
   * Records a call's end before its answer is relayed; with `required`
   * committed, so an answered call is on record even if the proxy is killed
   * next. The call has run: a failure is logged, and the answer still goes
   * out (the row stays buffered for the next flush that succeeds).
   */
  end(result: ToolResult): void {
    const telemetry = this.telemetry;
    const runId = this.runId;
    if (!telemetry.required) {
      const timestamp = new Date();
      this.later('tool_execution_end', () =>
        telemetry.logToolExecutionEnd(runId, result, { timestamp }),
      );
      return;
    }
    try {
      telemetry.logToolExecutionEnd(runId, result);
      telemetry.flush();
    } catch (err) {
      this.log.error(
        `telemetry: could not record the end of action ${result.actionId}, which ran: ${describe(err)}`,
      );
    }
  }

  /** Hands one record to the logger's background queue, reporting rather than throwing its failure. */
  private later(what: string, record: () => void): void {
    const log = this.log;
    this.telemetry.later(() => {
      try {
        record();
      } catch (err) {
        log.warn(`telemetry: could not record ${what}: ${describe(err)}`);
      }
    });
  }

  /**
   * The gate's logger without `required`: each record stamped with the time
   * it happened and written later, its payload built then too.
   */
  private deferredGateLogger(): GateLogger {
    const telemetry = this.telemetry;
    // Event ids are given when the record runs; the gate does not use them.
    const deferred = (what: string, record: (at: Date) => void): string => {
      const at = new Date();
      this.later(what, () => record(at));
      return '';
    };
    return {
      logEvent: (input) =>
        deferred(input.eventType, (at) =>
          telemetry.logEvent(input.timestamp === undefined ? { ...input, timestamp: at } : input),
        ),
      logActionVerdict: (runId, action, policyName, verdict) =>
        deferred('action_proposed', (at) =>
          telemetry.logActionVerdict(runId, action, policyName, verdict, at),
        ),
      logApprovalRequested: (runId, request, channel) =>
        deferred('approval_requested', (at) =>
          telemetry.logApprovalRequested(runId, request, channel, at),
        ),
      logApprovalDecided: (runId, decision, context) =>
        deferred('approval_decided', (at) =>
          telemetry.logApprovalDecided(runId, decision, context, at),
        ),
    };
  }
}

/** What the agent is told when `telemetry.required` stops a call: nothing ran, and why. */
export function telemetryRefusal(name: string, reason: string): string {
  return `Tool '${name}' was NOT executed: telemetry.required is set and the record of this call could not be written (${reason}). Free or fix the telemetry disk, or set telemetry.required to false.`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
