import { describe, expect, it } from 'vitest';
import { createAction } from '../../shared/models/action.js';
import type { ApprovalRequest } from '../../shared/models/approval-request.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { escapeHtml } from '../../shared/util/escape-html.js';
import {
  buildSlackMessage,
  escapeMrkdwn,
  SLACK_APPROVE_ACTION,
  SLACK_REJECT_ACTION,
} from '../../shared/webhooks/payloads/slack.js';
import {
  buildTelegramMessage,
  parseTelegramCallbackData,
  TELEGRAM_CALLBACK_DATA_MAX_BYTES,
  telegramCallbackRef,
} from '../../shared/webhooks/payloads/telegram.js';
import {
  buildApprovalRequestPayload,
  WebhookApprovalRequest,
} from '../../shared/webhooks/webhook-protocol.js';

function payloadFor(
  toolArgs: Record<string, unknown>,
  extra: { id?: string; riskClass?: 'low' | 'medium' | 'high'; rationale?: string } = {},
) {
  const request: ApprovalRequest = {
    runId: 'run-1',
    action: createAction({
      id: extra.id ?? '0190a6e2-5b7c-7cc3-9f1e-3c2b1a000001',
      toolName: 'send_email',
      toolArgs,
      riskClass: extra.riskClass ?? 'high',
      server: 'mail',
      rationale: extra.rationale ?? 'the user asked to notify Bob',
    }),
    policyName: 'risk_based',
    policyReason: 'high-risk tool',
    context: {},
    createdAt: '2030-01-01T00:00:00.000Z',
  };
  const id = request.action.id;
  return WebhookApprovalRequest.parse(
    buildApprovalRequestPayload(
      request,
      id,
      `https://me.example/cb/${encodeURIComponent(id)}?sig=${'0'.repeat(64)}`,
      '2030-01-01T00:10:00.000Z',
    ),
  );
}

type Block = Record<string, unknown> & { type: string };
const blocksOf = (m: { blocks: Array<Record<string, unknown>> }) => m.blocks as Block[];
/** Every string inside a value, depth first. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}
/** Every Slack text object ({ type, text }) in a message. */
function textObjects(value: unknown): Array<{ type: string; text: string }> {
  if (!value || typeof value !== 'object') return [];
  const own =
    'type' in value && 'text' in value && typeof (value as { text: unknown }).text === 'string'
      ? [value as { type: string; text: string }]
      : [];
  return [...own, ...Object.values(value).flatMap(textObjects)];
}

describe('Slack message', () => {
  const args = { to: 'bob@example.com', subject: 'Hi', body: 'See you' };
  const payload = payloadFor(args);
  const message = buildSlackMessage(payload);
  const blocks = blocksOf(message);

  it('has a header, tool/server/risk/policy fields, the arguments, and two buttons', () => {
    expect(blocks[0]).toMatchObject({
      type: 'header',
      text: { type: 'plain_text', text: 'Approval needed: send_email' },
    });
    const fields = (blocks[1] as unknown as { fields: Array<{ text: string }> }).fields.map(
      (f) => f.text,
    );
    expect(fields).toEqual([
      'Tool\nsend_email',
      'Server\nmail',
      'Risk\n🔴 HIGH',
      'Policy\nrisk_based: high-risk tool',
    ]);
    const pre = blocks.find((b) => b.type === 'rich_text') as unknown as {
      elements: Array<{ type: string; elements: Array<{ text: string }> }>;
    };
    expect(pre.elements[0]!.type).toBe('rich_text_preformatted');
    expect(JSON.parse(pre.elements[0]!.elements[0]!.text)).toEqual(args);
    expect(strings(blocks).join('\n')).toContain(`sha256 ${argsHash(args)}`);
  });

  it('buttons carry the callback id and arguments hash; a high-risk approve asks to confirm', () => {
    const actions = blocks.find((b) => b.type === 'actions') as unknown as {
      elements: Array<{ action_id: string; style: string; value: string; confirm?: unknown }>;
    };
    const [approve, reject] = actions.elements;
    expect(approve).toMatchObject({ action_id: SLACK_APPROVE_ACTION, style: 'primary' });
    expect(reject).toMatchObject({ action_id: SLACK_REJECT_ACTION, style: 'danger' });
    expect(JSON.parse(approve!.value)).toEqual({
      callbackId: payload.callbackId,
      argsHash: argsHash(args),
    });
    expect(reject!.value).toBe(approve!.value);
    expect(approve!.confirm).toBeDefined();
    const low = blocksOf(buildSlackMessage(payloadFor(args, { riskClass: 'low' })));
    const lowApprove = (
      low.find((b) => b.type === 'actions') as unknown as { elements: Array<object> }
    ).elements[0]!;
    expect('confirm' in lowApprove).toBe(false);
  });

  it('shows hidden characters as markers, with a warning', () => {
    const m = buildSlackMessage(
      payloadFor({ to: 'bob@example.com\u202Emoc.live', note: 'a\u200Bb' }),
    );
    const all = strings(m).join('\n');
    expect(all).toContain('⟦U+202E RLO⟧');
    expect(all).toContain('⟦U+200B ZWSP⟧');
    expect(all).not.toMatch(/[\u202E\u200B]/);
    expect(all).toContain('⚠ Warning: the arguments contain 2 hidden characters');
  });

  it('keeps markup in arguments inert: only plain_text / rich_text, and the mrkdwn fallback escaped', () => {
    const hostile = {
      to: '<!channel> <https://evil.example|click me> *bold* ```x```',
      cc: '&amp;',
    };
    const m = buildSlackMessage(
      payloadFor(hostile, { rationale: '<!here> please approve <@U123>' }),
    );
    // plain_text objects, and `text` elements inside rich_text: neither is parsed as mrkdwn.
    for (const t of textObjects(m.blocks)) expect(['plain_text', 'text']).toContain(t.type);
    expect(JSON.stringify(m.blocks)).not.toContain('mrkdwn');
    const pre = JSON.stringify(m.blocks);
    expect(pre).toContain('<!channel> <https://evil.example|click me>');
    // The notification text is mrkdwn: it contains only the tool name, escaped.
    expect(escapeMrkdwn('<!channel> & co')).toBe('&lt;!channel&gt; &amp; co');
    const tricky = buildSlackMessage(
      WebhookApprovalRequest.parse({
        ...payloadFor({}),
        approval: { ...payloadFor({}).approval, tool: '<!channel>' },
      }),
    );
    expect(tricky.text).toContain('&lt;!channel&gt;');
    expect(tricky.text).not.toContain('<!channel>');
  });

  it('truncates long arguments with a note, within Slack limits', () => {
    const big = { content: 'x'.repeat(20_000) };
    const m = buildSlackMessage(payloadFor(big), { maxArgsChars: 1000 });
    const pre = blocksOf(m).find((b) => b.type === 'rich_text') as unknown as {
      elements: Array<{ elements: Array<{ text: string }> }>;
    };
    const text = pre.elements[0]!.elements[0]!.text;
    expect(text.length).toBeLessThan(1300);
    expect(text).toMatch(/truncated: \d+ more characters not shown/);
    expect(text).toContain(argsHash(big));
    const header = blocksOf(
      buildSlackMessage(
        WebhookApprovalRequest.parse({
          ...payloadFor({}),
          approval: { ...payloadFor({}).approval, tool: 't'.repeat(500) },
        }),
      ),
    )[0] as unknown as { text: { text: string } };
    expect(header.text.text.length).toBeLessThanOrEqual(150);
  });
});

describe('Telegram message', () => {
  const args = { to: 'bob@example.com', subject: 'Hi' };
  const payload = payloadFor(args);
  const message = buildTelegramMessage(payload, { chatId: -100123 });

  it('is a sendMessage body in HTML mode with the arguments in <pre> and two buttons', () => {
    expect(message.chat_id).toBe(-100123);
    expect(message.parse_mode).toBe('HTML');
    expect(message.text).toContain('<b>Approval needed</b>: <code>send_email</code>');
    expect(message.text).toContain('Server: mail');
    expect(message.text).toContain('Risk: <b>🔴 HIGH</b>');
    expect(message.text).toContain(escapeHtml(JSON.stringify(args, null, 2)));
    expect(message.text).toMatch(/<pre><code class="language-json">[\s\S]*<\/code><\/pre>/);
    const [approve, reject] = message.reply_markup.inline_keyboard[0]!;
    expect(approve!.text).toContain('Approve');
    expect(reject!.text).toContain('Reject');
  });

  it("escapes ' in the rationale and the arguments (it once let them through)", () => {
    const m = buildTelegramMessage(
      payloadFor({ body: "it's <b>bold</b>" }, { rationale: "the user's request" }),
      { chatId: 1 },
    );
    expect(m.text).not.toContain("'");
    expect(m.text).toContain('Rationale: the user&#39;s request');
    expect(m.text).toContain('it&#39;s &lt;b&gt;bold&lt;/b&gt;');
  });

  it('callback_data fits 64 bytes even for a very long id, and maps back to id + args hash', () => {
    const long = payloadFor(args, { id: `run/${'é'.repeat(300)}/call-7` });
    const m = buildTelegramMessage(long, { chatId: 1 });
    for (const button of m.reply_markup.inline_keyboard.flat()) {
      expect(Buffer.byteLength(button.callback_data, 'utf8')).toBeLessThanOrEqual(
        TELEGRAM_CALLBACK_DATA_MAX_BYTES,
      );
      expect(Buffer.byteLength(button.callback_data, 'utf8')).toBeGreaterThan(0);
    }
    const [approve, reject] = m.reply_markup.inline_keyboard[0]!;
    const ref = telegramCallbackRef(long.callbackId, long.approval.argsHash);
    expect(parseTelegramCallbackData(approve!.callback_data)).toEqual({ approved: true, ref });
    expect(parseTelegramCallbackData(reject!.callback_data)).toEqual({ approved: false, ref });
    // Other arguments, other ref: a button cannot approve arguments it was not shown with.
    expect(telegramCallbackRef(long.callbackId, argsHash({ other: 1 }))).not.toBe(ref);
    expect(parseTelegramCallbackData('x:whatever')).toBeUndefined();
  });

  it('escapes markup in arguments and fields, so nothing the model wrote becomes a tag', () => {
    const m = buildTelegramMessage(
      payloadFor(
        { html: '</code></pre><a href="tg://evil">tap</a><b>x</b> & more' },
        { rationale: '<i>trust me</i>' },
      ),
      { chatId: 1 },
    );
    const tags = [...m.text.matchAll(/<\/?([a-z]+)[^>]*>/g)].map((t) => t[1]);
    // Only the tags the builder itself writes.
    expect(new Set(tags)).toEqual(new Set(['b', 'code', 'pre']));
    expect(m.text).not.toContain('<a ');
    expect(m.text).toContain('&lt;/code&gt;&lt;/pre&gt;&lt;a href=\\&quot;tg://evil\\&quot;&gt;');
    expect(m.text).toContain('&lt;i&gt;trust me&lt;/i&gt;');
    expect(m.text).toContain('&amp; more');
  });

  it('shows hidden characters as markers', () => {
    const m = buildTelegramMessage(payloadFor({ cmd: 'ls\u001b[2J; rm -rf ~\u2066' }), {
      chatId: 1,
    });
    // JSON already shows ESC as an escape; the warning names it.
    expect(m.text).toContain('\\u001b[2J');
    expect(m.text).toContain('U+001B ESC in cmd');
    expect(m.text).toContain('⟦U+2066 LRI⟧');
    expect(m.text).not.toMatch(/[\u001b\u2066]/);
    expect(m.text).toContain('⚠ Warning');
  });

  it('truncates long arguments with a note and stays within 4096 characters as displayed', () => {
    const big = { content: '<&>'.repeat(5_000), more: 'y'.repeat(10_000) };
    const m = buildTelegramMessage(payloadFor(big, { rationale: 'r'.repeat(5_000) }), {
      chatId: 1,
    });
    const displayed = m.text
      .replace(/<[^>]*>/g, '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&');
    expect(displayed.length).toBeLessThanOrEqual(4096);
    expect(displayed).toMatch(/truncated: \d+ more characters not shown/);
    expect(displayed).toContain(argsHash(big));
    // Truncation never cuts an entity in half.
    expect(m.text).not.toMatch(/&[a-z]*(?![a-z;])/);
  });
});
