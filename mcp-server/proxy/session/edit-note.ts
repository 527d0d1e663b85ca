import type { Decision } from '../../../shared/models/decision.js';
import { NOTE_KEY } from './tool-catalog.js';

/** Arguments longer than this are shortened in the note; the call itself ran with all of them. */
const MAX_ARGS_CHARS = 4000;

/**
 * The line a model reads after a reviewer edited its call: without it, the
 * model sees "Successfully wrote to …" and believes its own arguments ran.
 *
 * @example
 * editNote({ path: '/tmp/a', content: 'fixed' }, { decidedBy: 'cli:alice', reason: 'typo' })
 * // "Note from hitloop: a reviewer (cli:alice) edited this call's arguments before it ran. Reason: typo. It ran with: {...}"
 */
export function editNote(
  args: Record<string, unknown>,
  decision: Pick<Decision, 'decidedBy' | 'reason'>,
): string {
  let ran = JSON.stringify(args);
  if (ran.length > MAX_ARGS_CHARS)
    ran = `${ran.slice(0, MAX_ARGS_CHARS)}… (${ran.length - MAX_ARGS_CHARS} more characters)`;
  const reason = decision.reason?.trim() ? ` Reason: ${decision.reason.trim()}.` : '';
  return `Note from hitloop: a reviewer (${decision.decidedBy}) edited this call's arguments before it ran.${reason} It ran with: ${ran}`;
}

/**
 * A tool result with the edit note appended as one more text item, after the
 * server's own content, so clients that read the first item see the server's
 * answer unchanged; and, where the listed output schema allows it
 * (`structuredNote`), as `hitloop_note` in the structured content, which
 * Codex and Claude Code show the model instead of the text.
 *
 * @example
 * withEditNote({ content: [{ type: 'text', text: 'ok' }] }, args, decision, true).content.length // 2
 */
export function withEditNote(
  result: Record<string, unknown>,
  args: Record<string, unknown>,
  decision: Pick<Decision, 'decidedBy' | 'reason'>,
  structuredNote: boolean,
): Record<string, unknown> {
  const note = editNote(args, decision);
  const content = Array.isArray(result.content) ? result.content : [];
  const out: Record<string, unknown> = {
    ...result,
    content: [...content, { type: 'text', text: note }],
  };
  const structured = result.structuredContent;
  if (structuredNote && structured && typeof structured === 'object' && !Array.isArray(structured))
    out.structuredContent = { ...structured, [NOTE_KEY]: note };
  return out;
}
