import type { z } from 'zod';
import { safeJson } from '../util/safe-json.js';
import { readEventStream } from '../util/sse.js';
import {
  ApprovalList,
  ApprovalRecord,
  type DecideRequest,
  type DiscoveryFile,
  HubErrorBody,
  HubEvent,
  HubInfo,
  type RememberedRule,
  RuleList,
} from './protocol.js';

/** A failed hub call, with the HTTP status and the hub's error code. */
export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = 'HubRequestError';
  }
}

/**
 * No answer from a hub: refused, no such host, a TLS failure, or a timeout.
 * `reason` is the short cause (`ECONNREFUSED`, `no answer within 10 s`); the
 * message names the URL, never the token.
 */
export class HubUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`could not reach the hub at ${url} (${reason})`);
    this.name = 'HubUnreachableError';
  }
}

/**
 * A client of one approval hub, in plain TypeScript over `fetch`: the CLI and
 * the VS Code extension (which must not load native modules) share it. Every
 * response is parsed with the protocol's zod schemas.
 *
 * @example
 * const client = new HubClient(discoverHubs()[0]);
 * for (const a of await client.listPending()) console.log(a.tool, a.args);
 */
export class HubClient {
  readonly url: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  /**
   * `timeoutMs` bounds each request (not the event stream): a hub address
   * that drops packets must not leave `hitloop approvals` hanging. Default 10 s.
   */
  constructor(hub: Pick<DiscoveryFile, 'url' | 'token'>, options: { timeoutMs?: number } = {}) {
    this.url = hub.url.replace(/\/$/, '');
    this.token = hub.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  info(): Promise<HubInfo> {
    return this.call('GET', '/v1/info', HubInfo);
  }

  async listPending(filter: { server?: string; tool?: string } = {}): Promise<ApprovalRecord[]> {
    const q = new URLSearchParams({ status: 'pending', ...filter });
    return (await this.call('GET', `/v1/approvals?${q}`, ApprovalList)).approvals;
  }

  async history(limit = 100): Promise<ApprovalRecord[]> {
    const q = new URLSearchParams({
      status: 'approved,rejected,withdrawn,expired',
      limit: String(limit),
    });
    return (await this.call('GET', `/v1/approvals?${q}`, ApprovalList)).approvals;
  }

  get(id: string): Promise<ApprovalRecord> {
    return this.call('GET', `/v1/approvals/${encodeURIComponent(id)}`, ApprovalRecord);
  }

  decide(id: string, body: DecideRequest): Promise<ApprovalRecord> {
    return this.call(
      'POST',
      `/v1/approvals/${encodeURIComponent(id)}/decision`,
      ApprovalRecord,
      body,
    );
  }

  async rules(): Promise<RememberedRule[]> {
    return (await this.call('GET', '/v1/rules', RuleList)).rules;
  }

  async revokeRule(id: string): Promise<void> {
    await this.request('DELETE', `/v1/rules/${encodeURIComponent(id)}`);
  }

  /**
   * Streams hub events until `signal` aborts or the connection drops (the
   * promise then resolves; callers reconnect and re-list). `onOpen` runs once
   * the hub has accepted the stream: a client that lists after it misses no
   * event in between.
   */
  async events(
    onEvent: (event: HubEvent) => void,
    signal?: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    const res = await fetch(`${this.url}/v1/events`, { headers: this.headers(), signal }).catch(
      (err: unknown) => {
        if (signal?.aborted) throw err;
        throw this.unreachable(err);
      },
    );
    if (!res.ok || !res.body) throw await this.errorFrom(res);
    onOpen?.();
    try {
      await readEventStream(res.body, (message) => {
        const parsed = HubEvent.safeParse(safeJson(message.data));
        if (parsed.success) onEvent(parsed.data);
      });
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  private async call<T extends z.ZodType>(
    method: string,
    path: string,
    schema: T,
    body?: unknown,
  ): Promise<z.infer<T>> {
    const res = await this.request(method, path, body);
    // Something other than a hub on that port may answer 200 with HTML.
    const parsed = schema.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success)
      throw new HubRequestError(
        res.status,
        'invalid_response',
        `the hub at ${this.url} sent an unexpected response to ${method} ${path}`,
      );
    return parsed.data;
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers:
          body === undefined
            ? this.headers()
            : { ...this.headers(), 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (!res.ok) throw await this.errorFrom(res);
    return res;
  }

  /**
   * fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a
   * certificate problem) is in its `cause`. The URL is named, never the token.
   */
  private unreachable(err: unknown): HubUnreachableError {
    const e = err as {
      name?: string;
      message?: string;
      cause?: { code?: string; message?: string };
    };
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${Math.round(this.timeoutMs / 1000)} s`
        : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(err));
    return new HubUnreachableError(this.url, why);
  }

  private async errorFrom(res: Response): Promise<HubRequestError> {
    const parsed = HubErrorBody.safeParse(safeJson(await res.text()));
    if (parsed.success) {
      return new HubRequestError(
        res.status,
        parsed.data.error.code,
        parsed.data.error.message,
        parsed.data.error.details,
      );
    }
    return new HubRequestError(
      res.status,
      'http_error',
      `the hub at ${this.url} answered HTTP ${res.status}`,
    );
  }
}
