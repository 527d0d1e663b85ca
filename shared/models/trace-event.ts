import { z } from 'zod';

/** The seed's event types, kept verbatim so analysis written for it still works. */
export const EventType = z.enum([
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
export type EventType = z.infer<typeof EventType>;

/**
 * One step of a run, as stored in the `trace_events` table. `payload` keys use
 * the seed's snake_case names (`action_id`, `tool_name`, `latency_ms`, ...).
 *
 * @example
 * TraceEvent.parse({ runId: 'r1', eventType: 'action_proposed', payload: { action_id: 'a1', tool_name: 'send_email' } });
 */
export const TraceEvent = z.object({
  eventId: z.string().optional(),
  runId: z.string().min(1),
  eventType: EventType,
  timestamp: z.string().optional(),
  payload: z.record(z.string(), z.unknown()).default({}),
});
export type TraceEvent = z.infer<typeof TraceEvent>;
export type TraceEventInput = z.input<typeof TraceEvent>;
