// A webhook receiver for hitloop's approval requests: it verifies each
// request's signature, turns it into a Slack and a Telegram message (printed,
// or posted when credentials are set), and serves a small approve/reject page
// per request that sends the decision to hitloop's callback URL.
//
//   npm run build && node dist/examples/webhook-server.js --help
//   HITLOOP_WEBHOOK_SECRET=$(openssl rand -hex 32) node dist/examples/webhook-server.js --port 8787
//   node dist/examples/webhook-server.js --demo     # also sends itself one request, and prints the decision
//
// In your project, import from 'hitloop'; this example imports the source so it builds in the repo.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createAction } from '../shared/models/action.js';
import { readRequestBody } from '../shared/util/http-server.js';
import { formatArgsForDisplay, makeVisible } from '../shared/util/visible-text.js';
import {
  buildSlackMessage,
  buildTelegramMessage,
  createCallbackListener,
  verifyBodySignature,
  WebhookApprovalRequest,
  WebhookBackend,
} from '../shared/webhooks/index.js';

const HELP = `hitloop webhook receiver (example)

Receives hitloop's approval-request webhooks on POST /hitloop, checks the
X-Hitloop-Signature header against the shared secret, and for each request:
  - builds a Slack Block Kit message and a Telegram sendMessage body;
    prints both as one JSON line on stdout, or posts them when
    SLACK_WEBHOOK_URL (an incoming webhook) or TELEGRAM_BOT_TOKEN and
    TELEGRAM_CHAT_ID are set;
  - serves a review page at /r/<token> with the arguments (hidden characters
    shown as markers) and Approve / Reject buttons, which POST the decision to
    the request's callback URL.
The chat buttons need a Slack app / Telegram bot that forwards presses to a
bridge; this example links the review page instead.

Usage: node dist/examples/webhook-server.js [options]
  --port N        port on 127.0.0.1 (default 8787; 0 picks a free one)
  --secret S      shared secret (default: $HITLOOP_WEBHOOK_SECRET); at least 16 characters
  --reviewer NAME recorded as decidedBy "web:NAME" (default: $USER)
  --demo          also run a hitloop WebhookBackend in this process that sends one
                  request here, and print its decision when you decide on the page
  -h, --help      this text

Point hitloop at it with a webhook URL of http://127.0.0.1:<port>/hitloop and
the same secret.
`;

interface Pending {
  token: string;
  csrf: string;
  payload: WebhookApprovalRequest;
  receivedAt: string;
  outcome?: string;
}

const MAX_BODY = 1024 * 1024;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8787' },
      secret: { type: 'string' },
      reviewer: { type: 'string' },
      demo: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  let secret = values.secret ?? process.env.HITLOOP_WEBHOOK_SECRET;
  if (!secret && values.demo) secret = randomBytes(32).toString('hex');
  if (!secret || secret.length < 16) {
    process.stderr.write(
      'webhook-server: give a shared secret of at least 16 characters with --secret or HITLOOP_WEBHOOK_SECRET (see --help)\n',
    );
    process.exitCode = 2;
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`webhook-server: --port must be 0-65535, not ${values.port}\n`);
    process.exitCode = 2;
    return;
  }
  const reviewer = values.reviewer ?? process.env.USER ?? 'reviewer';
  const pending = new Map<string, Pending>();
  let origin = '';
  // Only in --demo: the hitloop side, whose callbacks this same server takes.
  let demoBackend: WebhookBackend | undefined;
  const demoCallbacks = createCallbackListener(
    (id, sig, body) =>
      demoBackend
        ? demoBackend.handleCallback(id, sig, body)
        : Promise.resolve({
            ok: false,
            status: 404,
            code: 'not_found',
            message: 'no demo running',
          }),
    { pathPrefix: '/demo/callbacks' },
  );

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/demo/callbacks/')) return demoCallbacks(req, res);
    handle(req, res, url).catch((err: unknown) => {
      process.stderr.write(`webhook-server: ${err instanceof Error ? err.stack : String(err)}\n`);
      if (!res.headersSent) sendText(res, 500, 'internal error');
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method === 'POST' && url.pathname === '/hitloop') return receive(req, res);
    if (req.method === 'GET' && url.pathname === '/')
      return sendHtml(res, 200, listPage([...pending.values()]));
    const m = /^\/r\/([A-Za-z0-9_-]{20,64})$/.exec(url.pathname);
    const entry = m ? pending.get(m[1]!) : undefined;
    if (m && !entry) return sendHtml(res, 404, page('Not found', '<p>No such request.</p>'));
    if (entry && req.method === 'GET') return sendHtml(res, 200, reviewPage(entry));
    if (entry && req.method === 'POST') return decide(req, res, entry);
    sendText(res, 404, 'not found');
  }

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readRequestBody(req, MAX_BODY);
    if (raw === 'too-large') return sendText(res, 413, 'too large');
    // The signature covers the exact bytes; check it before parsing anything.
    if (!verifyBodySignature(secret!, raw, req.headers['x-hitloop-signature']))
      return sendText(res, 401, 'bad signature');
    let parsed: ReturnType<typeof WebhookApprovalRequest.safeParse>;
    try {
      parsed = WebhookApprovalRequest.safeParse(JSON.parse(raw));
    } catch {
      return sendText(res, 400, 'not JSON');
    }
    if (!parsed.success)
      return sendText(res, 400, `not a hitloop approval request: ${parsed.error.message}`);
    const payload = parsed.data;
    // hitloop retries deliveries; the same callback id is the same request.
    const existing = [...pending.values()].find((p) => p.payload.callbackId === payload.callbackId);
    const entry: Pending = existing ?? {
      token: randomBytes(16).toString('base64url'),
      csrf: randomBytes(16).toString('base64url'),
      payload,
      receivedAt: new Date().toISOString(),
    };
    pending.set(entry.token, entry);
    const reviewUrl = `${origin}/r/${entry.token}`;
    sendJson(res, 202, { reviewUrl });
    if (!existing) await forward(entry, reviewUrl);
  }

  async function forward(entry: Pending, reviewUrl: string): Promise<void> {
    const slack = buildSlackMessage(entry.payload);
    slack.blocks.push({
      type: 'context',
      elements: [{ type: 'plain_text', text: `Review: ${reviewUrl}`, emoji: false }],
    });
    const chatId = process.env.TELEGRAM_CHAT_ID;
    const telegram = buildTelegramMessage(entry.payload, {
      chatId: chatId ?? '(TELEGRAM_CHAT_ID)',
    });
    const slackUrl = process.env.SLACK_WEBHOOK_URL;
    const botToken = process.env.TELEGRAM_BOT_TOKEN;
    if (slackUrl) await post('Slack', slackUrl, slack);
    if (botToken && chatId)
      await post('Telegram', `https://api.telegram.org/bot${botToken}/sendMessage`, telegram);
    if (!slackUrl && !(botToken && chatId)) {
      process.stdout.write(
        `${JSON.stringify({ event: 'approval_request', callbackId: entry.payload.callbackId, reviewUrl, slack, telegram })}\n`,
      );
    }
    process.stderr.write(
      `webhook-server: ${makeVisible(entry.payload.approval.tool)} needs approval: ${reviewUrl}\n`,
    );
  }

  async function decide(req: IncomingMessage, res: ServerResponse, entry: Pending): Promise<void> {
    const raw = await readRequestBody(req, 64 * 1024);
    if (raw === 'too-large') return sendText(res, 413, 'too large');
    const form = new URLSearchParams(raw);
    // The page is on localhost, but a page elsewhere could still post to it.
    if (!sameToken(form.get('csrf') ?? '', entry.csrf)) return sendText(res, 403, 'bad form token');
    const decision = form.get('decision');
    if (decision !== 'approve' && decision !== 'reject')
      return sendText(res, 400, 'decision must be approve or reject');
    const reason = (form.get('reason') ?? '').slice(0, 4000);
    const body = {
      approved: decision === 'approve',
      argsHash: entry.payload.approval.argsHash,
      decidedBy: `web:${reviewer}`,
      ...(reason ? { reason } : {}),
    };
    let outcome: string;
    try {
      const answer = await fetch(entry.payload.callbackUrl, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(10_000),
      });
      const text = await answer.text();
      outcome = answer.ok
        ? `${decision === 'approve' ? 'Approved' : 'Rejected'}; hitloop accepted the decision.`
        : `hitloop refused the decision (HTTP ${answer.status}): ${text.slice(0, 500)}`;
    } catch (err) {
      outcome = `Could not reach hitloop's callback URL: ${err instanceof Error ? err.message : String(err)}`;
    }
    entry.outcome = outcome;
    sendHtml(
      res,
      200,
      page('Decision sent', `<p>${esc(outcome)}</p><p><a href="/">All requests</a></p>`),
    );
  }

  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.stderr.write(
    `webhook-server: listening on ${origin} (POST ${origin}/hitloop; review pages under ${origin}/)\n`,
  );
  const stop = (): void => {
    void demoBackend?.close();
    server.close();
    server.closeAllConnections();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  if (values.demo) {
    demoBackend = new WebhookBackend({
      url: `${origin}/hitloop`,
      callbackBaseUrl: `${origin}/demo/callbacks`,
      secret,
    });
    const request = {
      runId: 'demo',
      action: createAction({
        toolName: 'send_email',
        toolArgs: { to: 'bob@example.com', subject: 'Quarterly numbers', body: 'Attached.' },
        riskClass: 'high',
        server: 'mail',
        rationale: 'The user asked to send the report to Bob.',
      }),
      policyName: 'risk_based',
      policyReason: 'send_email is a high-risk tool',
      context: {},
      createdAt: new Date().toISOString(),
    };
    const decision = await demoBackend.requestApproval(request);
    process.stdout.write(`${JSON.stringify({ event: 'decision', decision })}\n`);
    stop();
  }
}

function listPage(entries: Pending[]): string {
  const rows = entries
    .map((e) => {
      const a = e.payload.approval;
      return `<li><a href="/r/${esc(e.token)}">${esc(makeVisible(a.tool))}</a> on ${esc(makeVisible(a.server ?? '(no server)'))}, ${esc(a.riskClass)} risk, received ${esc(e.receivedAt)}${e.outcome ? ` — ${esc(e.outcome)}` : ''}</li>`;
    })
    .join('');
  return page('Approval requests', rows ? `<ul>${rows}</ul>` : '<p>No requests yet.</p>');
}

function reviewPage(entry: Pending): string {
  const a = entry.payload.approval;
  const row = (k: string, v: string) =>
    `<tr><th>${esc(k)}</th><td>${esc(makeVisible(v))}</td></tr>`;
  const closed = entry.outcome
    ? `<p><strong>${esc(entry.outcome)}</strong></p>`
    : `<form method="post">
  <input type="hidden" name="csrf" value="${esc(entry.csrf)}">
  <label>Reason (optional) <input name="reason" maxlength="4000" size="60"></label>
  <p><button name="decision" value="approve">Approve</button>
  <button name="decision" value="reject">Reject</button></p>
</form>`;
  return page(
    `Approve ${makeVisible(a.tool)}?`,
    `<table>
${row('Tool', a.tool)}
${row('Server', a.server ?? '(not given)')}
${row('Risk', a.riskClass.toUpperCase())}
${row('Policy', a.policyReason ? `${a.policyName}: ${a.policyReason}` : a.policyName)}
${row('Rationale', a.rationale || '(none given)')}
${row('Expires', entry.payload.expiresAt)}
${row('Arguments sha256', a.argsHash)}
</table>
<h2>Arguments</h2>
<pre>${esc(formatArgsForDisplay(a.args))}</pre>
${closed}`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:15px system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}th{text-align:left;padding-right:1rem;vertical-align:top}pre{background:#f4f4f4;padding:1rem;overflow:auto;white-space:pre-wrap;word-break:break-all}button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.5rem}</style>
</head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}

/** Escapes text for HTML element content and quoted attributes: everything rendered here comes from an agent. */
function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const SECURITY_HEADERS = {
  // No scripts at all; forms may only post back here.
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
  res.end(html);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

async function post(service: string, url: string, body: unknown): Promise<void> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok)
      process.stderr.write(
        `webhook-server: ${service} answered HTTP ${res.status}: ${(await res.text()).slice(0, 300)}\n`,
      );
  } catch (err) {
    process.stderr.write(
      `webhook-server: could not post to ${service}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`webhook-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
