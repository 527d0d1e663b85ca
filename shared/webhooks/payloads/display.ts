import {
  findHiddenCharacters,
  findHiddenInValue,
  formatArgsForDisplay,
  makeVisible,
  summarizeHiddenCharacters,
} from '../../util/visible-text.js';
import type { WebhookApprovalRequest } from '../webhook-protocol.js';

// What the chat payload builders share: every string a model or a tool
// server could have written is made visible and cut to a size the chat
// service accepts, with a note saying what was cut.

/**
 * `text` with hidden characters made visible, cut to `max` characters (never
 * inside a surrogate pair) with a note saying how much was left out.
 *
 * @example
 * clip('abcdef', 3) // 'abc… (3 more characters not shown)'
 */
export function clip(text: string, max: number, note?: (omitted: number) => string): string {
  const visible = makeVisible(text);
  if (visible.length <= max) return visible;
  let end = Math.max(0, max);
  const unit = visible.charCodeAt(end - 1);
  if (unit >= 0xd800 && unit <= 0xdbff) end--;
  const omitted = visible.length - end;
  return `${visible.slice(0, end)}${note ? note(omitted) : `… (${omitted} more characters not shown)`}`;
}

/** The arguments as pretty JSON, hidden characters made visible, cut to `max` with a note. */
export function argsForDisplay(
  payload: WebhookApprovalRequest,
  max: number,
): { text: string; truncated: boolean } {
  const full = formatArgsForDisplay(payload.approval.args);
  if (full.length <= max) return { text: full, truncated: false };
  return {
    text: clip(
      full,
      max,
      (omitted) =>
        `\n… truncated: ${omitted} more characters not shown. Check the full arguments (sha256 ${payload.approval.argsHash}) before approving.`,
    ),
    truncated: true,
  };
}

/**
 * A warning line when the arguments or the descriptive fields hide
 * characters, or `''`: the reviewer must know the markers stand for real
 * characters the tool would receive.
 */
export function hiddenWarning(payload: WebhookApprovalRequest): string {
  const a = payload.approval;
  const inArgs = findHiddenInValue(a.args);
  const fields = [a.tool, a.server ?? '', a.rationale, a.policyReason].filter(
    (s) => findHiddenCharacters(s).length > 0,
  ).length;
  const parts: string[] = [];
  if (inArgs.length > 0)
    parts.push(
      `the arguments contain ${summarizeHiddenCharacters(inArgs, 3)}; they are shown as ⟦U+XXXX⟧ markers, and the tool would receive the real characters`,
    );
  if (fields > 0) parts.push(`hidden characters also appear in ${fields} descriptive field(s)`);
  return parts.length ? `⚠ Warning: ${parts.join('; ')}.` : '';
}

/** `HIGH`, `MEDIUM`, `LOW` with a marker a colour-blind reader can tell apart too. */
export function riskLabel(risk: string): string {
  const mark = risk === 'high' ? '🔴' : risk === 'medium' ? '🟠' : '🟢';
  return `${mark} ${risk.toUpperCase()}`;
}

/** `policy: reason`, or just the policy. */
export function policyLine(payload: WebhookApprovalRequest): string {
  const a = payload.approval;
  return a.policyReason ? `${a.policyName}: ${a.policyReason}` : a.policyName;
}
