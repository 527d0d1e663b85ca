/**
 * Escapes text for HTML: element content and quoted attributes alike (`&`,
 * `<`, `>`, `"` and `'`). The one escaper in hitloop: the experiment report
 * (HTML and SVG) and Telegram's HTML parse mode (which accepts numeric
 * entities such as `&#39;`) both use it, so a value can never close a tag or
 * an attribute it was put in.
 *
 * @example
 * escapeHtml(`<a title='x'>"&"</a>`) // '&lt;a title=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;'
 */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c as keyof typeof ENTITIES]);
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' } as const;
