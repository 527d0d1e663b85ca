import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../../shared/util/escape-html.js';

// One HTML escaper (shared/util/escape-html.ts) for the experiment report and
// Telegram messages (test/unit/webhook-payloads.test.ts checks those). The
// Telegram copy it replaced let `'` through.

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
