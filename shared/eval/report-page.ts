import { escapeHtml } from '../util/escape-html.js';

/**
 * The page around an experiment or sweep report: a strict Content Security
 * Policy (no scripts, no requests: the file must open offline and be safe to
 * share), the style every report shares, then the report's own `style` lines
 * and `body` (inserted as given: the caller escapes its text).
 *
 * @example
 * reportPage({ title: 'hitloop sweep', maxWidthPx: 1200, style: '.note { color: #555; }', body: '<h1>hitloop sweep</h1>' });
 */
export function reportPage(page: {
  title: string;
  maxWidthPx: number;
  style: string;
  body: string;
}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: ${page.maxWidthPx}px; padding: 0 1rem; color: #1a1a1a; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; } h3 { font-size: 1rem; margin-top: 1.5rem; }
figure { margin: 1.5rem 0; } figcaption { font-weight: 600; margin-bottom: .5rem; }
svg { max-width: 100%; height: auto; border: 1px solid #e5e5e5; }
${page.style}
</style>
</head>
<body>
${page.body}
</body>
</html>
`;
}
