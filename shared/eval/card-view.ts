import type { ApprovalRequest } from '../models/approval-request.js';
import { formatArgsForDisplay, makeVisible } from '../util/visible-text.js';

// What a reviewer sees of an approval request, as text with line numbers, so
// a simulated reviewer can be told *where* on the card something is. The
// layout follows the approval card (extension/webview/card.ts): a heading
// with tool, server and risk; the policy and the agent's rationale; then the
// arguments as 2-space JSON with hidden characters made visible (the shared
// formatArgsForDisplay), where each `\n` escape inside a string is followed
// by a real line break, as json-view.ts renders long strings, and only the
// first page (64 KB) is shown until the reviewer clicks "Show more".

/**
 * Characters of arguments the card shows before its "Show N more bytes"
 * button: the webview's `PAGE_CHARS` (extension/webview/json-view.ts).
 *
 * @example
 * CARD_PAGE_CHARS // 65536
 */
export const CARD_PAGE_CHARS = 64 * 1024;

/**
 * One top-level argument as the card shows it: its key, its text (the
 * `"key": value` lines), the argument line it starts on (line 0 is the
 * opening `{`) and its character offset in the arguments text.
 *
 * @example
 * const to = card.fields.find((f) => f.key === 'to'); // { key: 'to', line: 1, offset: 4, text: '"to": "raj@globex.example"', ... }
 */
export interface CardField {
  key: string;
  text: string;
  /** First line of the field in `CardView.argsLines` (0 = the opening brace). */
  line: number;
  /** Offset of the field's first character in `CardView.argsText`. */
  offset: number;
}

/**
 * The approval card as text: the heading facts and the arguments, laid out
 * as the card lays them out. Built only from what the card displays, so
 * nothing else in a request (its context, its run id) can reach a reviewer
 * that reads a CardView.
 *
 * @example
 * const card = renderCardView(request);
 * card.tool; card.argsLines.length; card.fields[0]?.key;
 */
export interface CardView {
  tool: string;
  server: string | null;
  risk: string;
  policy: string;
  rationale: string;
  /** The arguments as displayed (with the card's extra line breaks). */
  argsText: string;
  argsLines: string[];
  /** The top-level arguments, in display order. */
  fields: CardField[];
}

/**
 * The card's view of one request: heading facts and the arguments laid out
 * line by line, with each top-level argument's position.
 *
 * @example
 * const card = renderCardView({ runId: 'r', action, policyName: 'always_review', policyReason: '', context: {}, createdAt: '' });
 * card.argsText === displayArgs(action.toolArgs).text // true
 */
export function renderCardView(request: ApprovalRequest): CardView {
  const action = request.action;
  const { text, fields } = displayArgs(action.toolArgs);
  return {
    tool: makeVisible(action.toolName),
    server: action.server ? makeVisible(action.server) : null,
    risk: action.riskClass,
    policy: makeVisible(
      request.policyReason ? `${request.policyName}: ${request.policyReason}` : request.policyName,
    ),
    rationale: makeVisible(action.rationale ?? ''),
    argsText: text,
    argsLines: text.split('\n'),
    fields,
  };
}

/**
 * Arguments as the card displays them, with the position of each top-level
 * field. Removing the added line breaks gives exactly
 * `formatArgsForDisplay(args)`.
 *
 * @example
 * displayArgs({ to: 'a@b.example', body: 'Hi\nthere' }).text
 * // '{\n  "to": "a@b.example",\n  "body": "Hi\\n\nthere"\n}'
 */
export function displayArgs(args: Record<string, unknown>): { text: string; fields: CardField[] } {
  const entries = Object.entries(args).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return { text: '{}', fields: [] };
  const fields: CardField[] = [];
  let text = '{\n';
  let line = 1;
  entries.forEach(([key, value], i) => {
    const field = `${displayKey(key)}: ${displayValue(value)}`;
    fields.push({ key, text: field, line, offset: text.length + 2 });
    text += `  ${field}${i < entries.length - 1 ? ',' : ''}\n`;
    line += countLines(field);
  });
  return { text: `${text}}`, fields };
}

/**
 * A value as it appears after `"key": ` on the card (nested lines indented
 * one level, a line break after each `\n` escape).
 *
 * @example
 * displayValue('a\nb') // '"a\\n\nb"'
 */
export function displayValue(value: unknown): string {
  const json = formatArgsForDisplay(value).replace(/\n/g, '\n  ');
  return breakAfterNewlineEscapes(json);
}

function displayKey(key: string): string {
  return makeVisible(JSON.stringify(key));
}

/** Inserts a line break after every `\n` escape, skipping escaped backslashes. */
function breakAfterNewlineEscapes(json: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < json.length; i++) {
    if (json[i] !== '\\') continue;
    if (json[i + 1] === 'n') {
      out += `${json.slice(start, i + 2)}\n`;
      start = i + 2;
    }
    i++;
  }
  return out + json.slice(start);
}

function countLines(text: string): number {
  let n = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}
