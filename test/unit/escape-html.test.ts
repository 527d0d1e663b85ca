import { describe, expect, it } from 'vitest';
import { createAction } from '../../shared/models/action.js';
import { escapeHtml } from '../../shared/util/escape-html.js';
import { buildTelegramMessage } from '../../shared/webhooks/payloads/telegram.js';
import {
  buildApprovalRequestPayload,
  WebhookApprovalRequest,
} from '../../shared/webhooks/webhook-protocol.js';

// One HTML escaper (shared/util/escape-html.ts) for the experiment report and
// Telegram messages. The Telegram copy it replaced let `'` through.

describe('escapeHtml', () => {
  it('escapes & < > " and \' (content and either kind of quoted attribute)', () => {
    expect(escapeHtml(`<a title='x' href="y">Tom & Jerry's</a>`)).toBe(
      '&lt;a title=&#39;x&#39; href=&quot;y&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;',
    );
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
    expect(escapeHtml(42)).toBe('42');
    expect(escapeHtml('plain text ✓')).toBe('plain text ✓');
  });
});

describe('Telegram messages', () => {
  it("escape ' in every value, arguments included", () => {
    const action = createAction({
      id: '0190a6e2-5b7c-7cc3-9f1e-3c2b1a000001',
      toolName: "send_'email'",
      toolArgs: { body: "it's <b>bold</b>" },
      riskClass: 'high',
      server: "bob's mail",
      rationale: "the user's request",
    });
    const payload = WebhookApprovalRequest.parse(
      buildApprovalRequestPayload(
        {
          runId: 'run-1',
          action,
          policyName: 'risk_based',
          policyReason: 'high-risk tool',
          context: {},
          createdAt: '2030-01-01T00:00:00.000Z',
        },
        action.id,
        `https://me.example/cb/${action.id}?sig=${'0'.repeat(64)}`,
        '2030-01-01T00:10:00.000Z',
      ),
    );
    const { text } = buildTelegramMessage(payload, { chatId: 1 });
    expect(text).not.toContain("'");
    expect(text).toContain('<code>send_&#39;email&#39;</code>');
    expect(text).toContain('Server: bob&#39;s mail');
    expect(text).toContain('Rationale: the user&#39;s request');
    expect(text).toContain('it&#39;s &lt;b&gt;bold&lt;/b&gt;');
  });
});
