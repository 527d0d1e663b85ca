/**
 * The webhook approval channel: approval requests POSTed (signed) to any
 * HTTP receiver, decisions POSTed back to a per-request callback URL, with
 * retries, a circuit breaker, restart recovery through an ApprovalStore, and
 * Slack / Telegram message builders for bridges.
 *
 * @example
 * import { PersistentWebhookBackend, SqliteApprovalStore } from 'hitloop';
 * const backend = new PersistentWebhookBackend({ url, callbackBaseUrl, secret, store: new SqliteApprovalStore(file), threadId: 'proxy-1' });
 * const decision = await backend.requestApproval(request);
 */
export {
  type CallbackRefusal,
  type HandleWebhookCallbackOptions,
  handleWebhookCallback,
} from './callback-handler.js';
export * from './callback-server.js';
export * from './circuit-breaker.js';
export * from './payloads/slack.js';
export * from './payloads/telegram.js';
export * from './persistent-webhook-backend.js';
export * from './retry.js';
export * from './signature.js';
export {
  callbackUrlFor,
  WEBHOOK_DEFAULT_TIMEOUT_MS,
  WebhookBackend,
  type WebhookBackendOptions,
} from './webhook-backend.js';
export * from './webhook-protocol.js';
export * from './webhook-sender.js';
