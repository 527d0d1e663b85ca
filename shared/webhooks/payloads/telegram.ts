import { createHash } from 'node:crypto';
import { escapeHtml } from '../../util/escape-html.js';
import type { WebhookApprovalRequest } from '../webhook-protocol.js';
import { argsForDisplay, clip, hiddenWarning, policyLine, riskLabel } from './display.js';

/** Options for {@link buildTelegramMessage}. */
export interface TelegramMessageOptions {
  /** The chat to post to (`sendMessage`'s `chat_id`). */
  chatId: string | number;
  /** Characters of pretty-printed arguments shown before truncating. Default 3000. */
  maxArgsChars?: number;
}

/** A Telegram Bot API `sendMessage` body. */
export interface TelegramMessage {
  chat_id: string | number;
  text: string;
  parse_mode: 'HTML';
  link_preview_options: { is_disabled: true };
  reply_markup: { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
}

// Telegram: message text at most 4096 characters after entity parsing;
// callback_data 1-64 bytes.
const TEXT_LIMIT = 4096;
export const TELEGRAM_CALLBACK_DATA_MAX_BYTES = 64;
const FIELD_MAX = 400;

/**
 * A Telegram `sendMessage` body for one approval request, in HTML parse mode
 * with every value escaped ({@link escapeHtml}), so markup in arguments stays text;
 * the arguments sit in a `<pre>` block with hidden characters shown as
 * markers and are cut (with a note) to keep the message within Telegram's
 * 4096 characters. The inline keyboard's `callback_data` is `a:<ref>` or
 * `r:<ref>` (45 bytes, under Telegram's 64), where `ref` is
 * {@link telegramCallbackRef} of the callback id and arguments hash: the
 * bridge maps it back to the request it stored.
 *
 * @example
 * const body = buildTelegramMessage(payload, { chatId: process.env.TELEGRAM_CHAT_ID });
 * await fetch(`https://api.telegram.org/bot${token}/sendMessage`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
 */
export function buildTelegramMessage(
  payload: WebhookApprovalRequest,
  options: TelegramMessageOptions,
): TelegramMessage {
  const a = payload.approval;
  const warning = hiddenWarning(payload);
  const head = [
    `<b>Approval needed</b>: <code>${escapeHtml(clip(a.tool, FIELD_MAX))}</code>`,
    `Server: ${escapeHtml(clip(a.server ?? '(not given)', FIELD_MAX))}`,
    `Risk: <b>${escapeHtml(riskLabel(a.riskClass))}</b>`,
    `Policy: ${escapeHtml(clip(policyLine(payload), FIELD_MAX))}`,
    ...(a.rationale ? [`Rationale: ${escapeHtml(clip(a.rationale, FIELD_MAX))}`] : []),
    ...(warning ? [`<b>${escapeHtml(clip(warning, FIELD_MAX))}</b>`] : []),
  ].join('\n');
  const foot = `sha256 <code>${a.argsHash}</code>\nexpires ${escapeHtml(payload.expiresAt)}`;
  // The limit counts the text Telegram shows: tags do not count, entities count as one.
  const shown = plainLength(head) + plainLength(foot) + 2;
  const budget = Math.max(200, TEXT_LIMIT - shown - 250);
  const args = argsForDisplay(payload, Math.min(options.maxArgsChars ?? 3000, budget));
  const text = `${head}\n<pre><code class="language-json">${escapeHtml(args.text)}</code></pre>\n${foot}`;
  const ref = telegramCallbackRef(payload.callbackId, a.argsHash);
  return {
    chat_id: options.chatId,
    text,
    parse_mode: 'HTML',
    link_preview_options: { is_disabled: true },
    reply_markup: {
      inline_keyboard: [
        [
          { text: '✅ Approve', callback_data: `a:${ref}` },
          { text: '❌ Reject', callback_data: `r:${ref}` },
        ],
      ],
    },
  };
}

/**
 * A 43-character reference to one request's exact arguments: base64url of
 * SHA-256 over `callbackId` and `argsHash`. Short enough for `callback_data`
 * whatever the id's length, and it binds the button to the arguments shown.
 *
 * @example
 * pending.set(telegramCallbackRef(payload.callbackId, payload.approval.argsHash), payload);
 */
export function telegramCallbackRef(callbackId: string, argsHash: string): string {
  return createHash('sha256').update(`${callbackId}\n${argsHash}`, 'utf8').digest('base64url');
}

/**
 * Reads a button's `callback_data` back: which button, and the request ref.
 * Undefined for data this module did not make.
 *
 * @example
 * const pressed = parseTelegramCallbackData(update.callback_query.data); // { approved: true, ref }
 */
export function parseTelegramCallbackData(
  data: string,
): { approved: boolean; ref: string } | undefined {
  const m = /^([ar]):([A-Za-z0-9_-]{43})$/.exec(data);
  return m ? { approved: m[1] === 'a', ref: m[2]! } : undefined;
}

/** Length of HTML text as displayed: tags dropped, each entity one character. */
function plainLength(html: string): number {
  return html.replace(/<[^>]*>/g, '').replace(/&(?:[a-z]+|#\d+);/g, '_').length;
}
