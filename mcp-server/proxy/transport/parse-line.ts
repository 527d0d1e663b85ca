import { unshowableReason } from '../../../shared/util/faithful-args.js';
import { guessMessageId, LineFramer } from '../jsonrpc/line-framer.js';
import { checkEnvelope, type JsonRpcMessage } from '../jsonrpc/messages.js';
import type { FramingProblem, JsonRpcTransport } from './transport.js';

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
  // Duplicate keys are visible only in the text: JSON.parse keeps one value,
  // another parser might keep the other. A call whose text is ambiguous is
  // refused before anyone is asked to approve it.
  const m = checked.message;
  if ('method' in m && m.method === 'tools/call' && 'id' in m && m.id !== undefined) {
    const why = unshowableReason(undefined, line);
    if (why)
      return {
        problem: { kind: 'envelope', detail: `tools/call was NOT executed: ${why}`, id: m.id },
      };
  }
  return checked;
}

/**
 * The framer both stdio transports use: each line parsed and delivered to
 * the transport's current handlers; an oversized line reported with the id
 * found at its edges, so the sender can be answered instead of left waiting.
 */
export function messageFramer(
  maxBytes: number,
  target: Pick<JsonRpcTransport, 'onmessage' | 'onproblem'>,
): LineFramer {
  return new LineFramer(
    maxBytes,
    (line) => {
      const parsed = parseLine(line);
      if ('message' in parsed) target.onmessage?.(parsed.message, line);
      else target.onproblem?.(parsed.problem);
    },
    (line) =>
      target.onproblem?.({
        kind: 'oversized',
        detail: `message of ${line.bytes} bytes exceeds the limit of ${maxBytes} bytes (proxy.maxMessageBytes)`,
        id: guessMessageId(line),
      }),
  );
}
