import type { WebhookApprovalRequest } from '../webhook-protocol.js';
import { argsForDisplay, clip, hiddenWarning, policyLine, riskLabel } from './display.js';

/** Options for {@link buildSlackMessage}. */
export interface SlackMessageOptions {
  /** Characters of pretty-printed arguments shown before truncating. Default 2500. */
  maxArgsChars?: number;
}

/** What the Approve / Reject buttons carry in `value` (JSON): enough to call back. */
export interface SlackButtonValue {
  callbackId: string;
  argsHash: string;
}

/** A Slack message (`chat.postMessage` body or incoming-webhook body) with Block Kit blocks. */
export interface SlackMessage {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

export const SLACK_APPROVE_ACTION = 'hitloop_approve';
export const SLACK_REJECT_ACTION = 'hitloop_reject';

// Slack limits: header text 150, section field 2000, section text 3000,
// button value 2000.
const HEADER_MAX = 150;
const FIELD_MAX = 1900;
const TEXT_MAX = 2900;
// Leaves room for the truncation note under the 3000 of a text block.
const ARGS_MAX = 2700;
const VALUE_MAX = 2000;

/**
 * A Slack Block Kit message for one approval request: a header, fields for
 * tool, server, risk and policy, the rationale, the arguments in a
 * preformatted block (hidden characters shown as `⟦U+202E RLO⟧` markers, long
 * arguments cut with a note), and Approve / Reject buttons whose `value` is
 * `{"callbackId","argsHash"}` JSON.
 *
 * Everything from the request is `plain_text` or a `rich_text` text element,
 * which Slack does not parse for markup, so `<!channel>`, `*bold*` or
 * `<https://evil|click>` in arguments show as typed. Only the notification
 * `text` is mrkdwn, and it is escaped.
 *
 * @example
 * const message = buildSlackMessage(payload);
 * await fetch(process.env.SLACK_WEBHOOK_URL, { method: 'POST', body: JSON.stringify(message), headers: { 'content-type': 'application/json' } });
 */
export function buildSlackMessage(
  payload: WebhookApprovalRequest,
  options: SlackMessageOptions = {},
): SlackMessage {
  const a = payload.approval;
  const value = JSON.stringify({
    callbackId: payload.callbackId,
    argsHash: a.argsHash,
  } satisfies SlackButtonValue);
  if (value.length > VALUE_MAX)
    throw new RangeError(
      `callback id is too long for a Slack button value (${value.length} > ${VALUE_MAX} characters)`,
    );
  const plain = (text: string) => ({ type: 'plain_text', text, emoji: false });
  const args = argsForDisplay(payload, Math.min(options.maxArgsChars ?? 2500, ARGS_MAX));
  const warning = hiddenWarning(payload);
  const blocks: Array<Record<string, unknown>> = [
    { type: 'header', text: plain(clip(`Approval needed: ${a.tool}`, HEADER_MAX - 1, () => '…')) },
    {
      type: 'section',
      fields: [
        plain(`Tool\n${clip(a.tool, FIELD_MAX)}`),
        plain(`Server\n${clip(a.server ?? '(not given)', FIELD_MAX)}`),
        plain(`Risk\n${riskLabel(a.riskClass)}`),
        plain(`Policy\n${clip(policyLine(payload), FIELD_MAX)}`),
      ],
    },
  ];
  if (a.rationale)
    blocks.push({ type: 'section', text: plain(`Rationale: ${clip(a.rationale, TEXT_MAX)}`) });
  if (warning) blocks.push({ type: 'section', text: plain(clip(warning, TEXT_MAX)) });
  blocks.push(
    {
      type: 'rich_text',
      elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'text', text: args.text }] }],
    },
    {
      type: 'context',
      elements: [
        plain(clip(`sha256 ${a.argsHash} · expires ${payload.expiresAt} · id ${a.id}`, TEXT_MAX)),
      ],
    },
    {
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: SLACK_APPROVE_ACTION,
          text: plain('Approve'),
          style: 'primary',
          value,
          // A second look for calls that can do real damage.
          ...(a.riskClass === 'high'
            ? {
                confirm: {
                  title: plain('Approve a high-risk call?'),
                  text: plain(clip(`${a.tool} will run with the arguments shown.`, 300)),
                  confirm: plain('Approve'),
                  deny: plain('Back'),
                },
              }
            : {}),
        },
        {
          type: 'button',
          action_id: SLACK_REJECT_ACTION,
          text: plain('Reject'),
          style: 'danger',
          value,
        },
      ],
    },
  );
  return {
    text: escapeMrkdwn(`Approval needed: ${clip(a.tool, 200)} (${a.riskClass} risk)`),
    blocks,
  };
}

/**
 * Escapes the three characters Slack's mrkdwn treats as control
 * (`&`, `<`, `>`), so `<!channel>` or `<url|label>` stays text.
 *
 * @example
 * escapeMrkdwn('<!channel> & co') // '&lt;!channel&gt; &amp; co'
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
