import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
import { ApprovalHub } from '../../../shared/hub/approval-hub.js';
import { hitloopHome } from '../../../shared/hub/discovery.js';
import type { ApprovalStore } from '../../../shared/stores/approval-store.js';
import { maskStoreUrl, openApprovalStore } from '../../../shared/stores/open-store.js';
import { isLoopbackHost } from '../../../shared/util/loopback.js';
import { handleWebhookCallback } from '../../../shared/webhooks/callback-handler.js';
import { createCallbackListener } from '../../../shared/webhooks/callback-server.js';
import { parseHostPort } from '../../proxy/host-port.js';
import { packageVersion } from '../../version.js';
import type { CliIo } from '../program.js';

interface ServeOptions {
  store?: string;
  listen: string;
  tokenFile?: string;
  name: string;
  publicUrl?: string;
  resumeWindow: string;
  webhookSecretFile?: string;
}

/** Shortest token `hitloop serve` accepts from a file or the environment. */
const MIN_TOKEN_LENGTH = 24;

/**
 * `hitloop serve`: a central approval hub for a team. Proxies on many
 * machines share its store (`hitloop proxy --store postgres://...`); people
 * approve in VS Code (a remote hub URL and token), from `hitloop approvals`,
 * or on the mobile page it serves.
 */
export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description(
      'run a central approval hub on a shared store, for proxies on many machines (team mode)',
    )
    .option(
      '-s, --store <url>',
      'approval store: postgres://..., redis://..., a SQLite file (default: $HITLOOP_STORE or $HITLOOP_HOME/approvals.db)',
    )
    .option(
      '-l, --listen <host:port>',
      'address of the hub API and approval page',
      '127.0.0.1:8700',
    )
    .option(
      '--token-file <file>',
      'file holding the bearer token (default: $HITLOOP_HUB_TOKEN, else a token kept in $HITLOOP_HOME/serve-token)',
    )
    .option('-n, --name <name>', 'name shown to reviewers', 'hitloop team hub')
    .option(
      '--public-url <url>',
      'the URL people reach the hub at (behind a TLS reverse proxy), used in the printed links',
    )
    .option(
      '--resume-window <seconds>',
      'how long approvals of a proxy that died stay answerable, waiting for it to restart',
      '120',
    )
    .option(
      '--webhook-secret-file <file>',
      'accept webhook decisions at /v1/callbacks/ for requests signed with this secret (default: $HITLOOP_WEBHOOK_SECRET)',
    )
    .action(async (opts: ServeOptions) => {
      const listen = parseHostPort(opts.listen, '--listen');
      const resumeSeconds = Number(opts.resumeWindow);
      if (!Number.isFinite(resumeSeconds) || resumeSeconds <= 0)
        throw new ConfigError({
          file: '--resume-window',
          problem: `expected a positive number of seconds, got '${opts.resumeWindow}'`,
        });
      const home = hitloopHome();
      const token = readToken(opts.tokenFile, home);
      const webhookSecret = readWebhookSecret(opts.webhookSecretFile);
      let publicOrigin: string | undefined;
      if (opts.publicUrl) {
        try {
          publicOrigin = new URL(opts.publicUrl).origin;
        } catch {
          throw new ConfigError({
            file: '--public-url',
            problem: `'${opts.publicUrl}' is not a URL`,
            fix: 'for example --public-url https://approvals.example.com',
          });
        }
      }
      const spec = opts.store ?? process.env.HITLOOP_STORE ?? join(home, 'approvals.db');
      let store: ApprovalStore;
      try {
        store = await openApprovalStore(spec, {
          onInvalid: (m) => io.stderr(`hitloop: warn: ${m}\n`),
        });
      } catch (err) {
        throw new ConfigError({
          file: '--store',
          problem: err instanceof Error ? err.message : String(err),
          fix: 'check the URL and that the server is running, e.g. --store postgres://user@127.0.0.1:5432/db',
        });
      }
      const callbackListener =
        webhookSecret &&
        createCallbackListener(
          (id, sig, body) =>
            handleWebhookCallback(store, webhookSecret, id, sig, body, {
              resumeWindowMs: resumeSeconds * 1000,
              home,
            }),
          { pathPrefix: '/v1/callbacks' },
        );
      const hub = new ApprovalHub({
        store,
        name: opts.name,
        home,
        version: packageVersion(),
        listen,
        token,
        page: true,
        ...(publicOrigin ? { pageOrigins: [publicOrigin] } : {}),
        relayStoreEvents: true,
        ...(callbackListener
          ? {
              // Callbacks carry their own HMAC capability instead of the token.
              extraRoutes: async (req, res, url) => {
                if (!url.pathname.startsWith('/v1/callbacks/')) return false;
                callbackListener(req, res);
                return true;
              },
            }
          : {}),
        resumeWindowMs: resumeSeconds * 1000,
        log: (m) => io.stderr(`hitloop: warn: ${m}\n`),
      });
      try {
        await hub.start();
      } catch (err) {
        await hub.stop().catch(() => undefined);
        await store.close().catch(() => undefined);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
          throw new ConfigError({
            file: '--listen',
            problem:
              code === 'EADDRINUSE'
                ? `${opts.listen} is already in use`
                : `cannot listen on ${opts.listen} (${code})`,
            fix: 'choose another address with --listen HOST:PORT (port 0 picks a free one)',
          });
        throw err;
      }
      const base = (opts.publicUrl ?? hub.url).replace(/\/+$/, '');
      io.stdout(
        [
          `hitloop hub "${opts.name}" serving at ${hub.url} (store: ${maskStoreUrl(spec)})`,
          `  approval page: ${base}/#token=${token}`,
          `  VS Code: run "hitloop: Connect to a Remote Hub…" with ${base} and the token`,
          `  proxies: hitloop proxy --store ${maskStoreUrl(spec)} ...`,
          ...(webhookSecret ? [`  webhook callbacks: ${base}/v1/callbacks/`] : []),
          '',
        ].join('\n'),
      );
      if (!isLoopbackHost(listen.host) && !opts.publicUrl)
        io.stderr(
          'hitloop: warn: the hub speaks plain HTTP; across a network, put it behind a TLS reverse proxy and pass --public-url https://...\n',
        );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await hub.stop();
      await store.close();
    });
}

/** The webhook secret, if callbacks are to be served. */
function readWebhookSecret(file: string | undefined): string | undefined {
  let secret = process.env.HITLOOP_WEBHOOK_SECRET?.trim();
  let field = 'HITLOOP_WEBHOOK_SECRET';
  if (file) {
    field = '--webhook-secret-file';
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError({
        file: field,
        problem: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      });
    }
  }
  if (secret !== undefined && secret.length < 16)
    throw new ConfigError({
      file: field,
      problem: 'the webhook secret is shorter than 16 characters',
      fix: 'use the same long random secret as the proxies’ approval.webhook.secret',
    });
  return secret || undefined;
}

/**
 * The hub's token: from --token-file, $HITLOOP_HUB_TOKEN, or a random one
 * kept (0600) in $HITLOOP_HOME/serve-token so links and editor settings
 * survive a restart.
 */
function readToken(file: string | undefined, home: string): string {
  const fromFile = (path: string, field: string) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new ConfigError({
        file: field,
        problem: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      });
    }
    return check(text, field);
  };
  const check = (text: string, field: string) => {
    if (text.length < MIN_TOKEN_LENGTH)
      throw new ConfigError({
        file: field,
        problem: `the token is shorter than ${MIN_TOKEN_LENGTH} characters`,
        fix: 'use a long random token, e.g. `openssl rand -base64 32`',
      });
    return text;
  };
  if (file) return fromFile(file, '--token-file');
  const env = process.env.HITLOOP_HUB_TOKEN?.trim();
  if (env) return check(env, 'HITLOOP_HUB_TOKEN');
  const kept = join(home, 'serve-token');
  if (existsSync(kept)) {
    // The token grants every decision: keep it readable by this user only.
    if ((statSync(kept).mode & 0o077) !== 0) chmodSync(kept, 0o600);
    return fromFile(kept, kept);
  }
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(kept, `${token}\n`, { mode: 0o600 });
  chmodSync(kept, 0o600);
  return token;
}
