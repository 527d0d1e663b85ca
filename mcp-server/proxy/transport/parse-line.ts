import { checkEnvelope, type JsonRpcMessage } from '../jsonrpc/messages.js';
import type { FramingProblem } from './transport.js';

/** Parses one framed line into a message, or describes what is wrong with it. */
export function parseLine(line: string): { message: JsonRpcMessage } | { problem: FramingProblem } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return {
      problem: {
        kind: 'parse',
        detail: `invalid JSON: ${err instanceof Error ? err.message : String(err)}`,
        id: null,
      },
    };
  }
  const checked = checkEnvelope(value);
  if ('problem' in checked)
    return { problem: { kind: 'envelope', detail: checked.problem, id: checked.id } };
  return checked;
}
