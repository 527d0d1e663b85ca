import { randomBytes } from 'node:crypto';
import { argsHash } from '../../../shared/util/canonical-json.js';
import {
  ErrorCode,
  errorResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  resultResponse,
} from '../jsonrpc/messages.js';
import type { SendOptions } from '../transport/transport.js';
import { MODERN_PROTOCOL_VERSION, ModernErrorCode, modernCapabilities } from './protocol-2026.js';

/** What the rounds need of a client call the session tracks (its InFlight). */
export interface RoundCall {
  clientId: JsonRpcId;
  cancelled: boolean;
  /** The client's request; a round continues it under the retry's id. */
  request?: JsonRpcRequest;
  progressToken?: string | number;
  /** The request declared elicitation: it can be asked through input_required. */
  elicits?: boolean;
  upstreamId?: JsonRpcId;
}

/** What the rounds need of the session: its calls in flight, and the way to the client. */
export interface RoundHost<C extends RoundCall> {
  /** Removes and returns the call in flight under this client id. */
  take(clientId: JsonRpcId): C | undefined;
  /** Puts a call (back) in flight under a client id. */
  put(clientId: JsonRpcId, call: C): void;
  send(message: JsonRpcMessage, options?: SendOptions): void;
}

/** The part of an upstream server a relayed request needs. */
export interface RoundServer {
  name: string;
  respond(message: JsonRpcMessage): void;
  cancel(id: JsonRpcId, reason: string): void;
}

type Resume = (inputResponses: Record<string, unknown>, retryId: JsonRpcId) => void;

interface ParkedRound<C> {
  call: C;
  /** The request's method and params (without `_meta`): a retry must repeat them. */
  fingerprint: string;
  resume: Resume;
}

/**
 * Multi round-trip requests (2026-07-28) as the proxy holds them: a call
 * answered `input_required` waits here under an unguessable requestState
 * until the client's retry, which must repeat the same request, continues
 * it, once, under the retry's id. Used by the MRTR approval channel and to
 * relay a 2025-era server's elicitation and sampling requests to a 2026
 * client, which takes no requests.
 *
 * @example
 * const rounds = new InputRounds({ take, put, send });
 * const state = rounds.ask(callId, { q: { method: 'elicitation/create', params } }, (answers, retryId) => ...);
 * // later, for a tools/call carrying requestState:
 * rounds.resume(retry, retry.params.requestState);
 */
export class InputRounds<C extends RoundCall> {
  private readonly parked = new Map<string, ParkedRound<C>>();
  private nextKey = 1;

  constructor(private readonly host: RoundHost<C>) {}

  /** Ends the call's current round with `input_required`; returns the round's requestState. */
  ask(clientRequestId: JsonRpcId, inputRequests: Record<string, unknown>, resume: Resume): string {
    const call = this.host.take(clientRequestId);
    if (!call?.request) {
      if (call) this.host.put(clientRequestId, call);
      throw new Error(`no call ${String(clientRequestId)} to ask input for`);
    }
    // Unguessable and good once: only the retry that carries it continues the call.
    const state = randomBytes(24).toString('base64url');
    this.parked.set(state, { call, fingerprint: fingerprint(call.request), resume });
    this.host.send(
      resultResponse(clientRequestId, {
        resultType: 'input_required',
        inputRequests,
        requestState: state,
      }),
      { relatedRequestId: clientRequestId },
    );
    return state;
  }

  /** Forgets a round decided without the client (a timeout): its outcome has no request left to answer. */
  withdraw(requestState: string): void {
    const round = this.parked.get(requestState);
    if (!round) return;
    this.parked.delete(requestState);
    round.call.cancelled = true;
  }

  /**
   * A client's retry of an `input_required` round: it must repeat the very
   * request the round belongs to (for a tool: its name and arguments), and a
   * requestState continues its call once. The call then goes on under the
   * retry's id, stream and progress token.
   */
  resume(msg: JsonRpcRequest, state: string): void {
    const round = this.parked.get(state);
    const params = msg.params ?? {};
    if (!round)
      return this.host.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          'Invalid params: requestState is unknown or already used (the call it belonged to was decided, ran, or expired); call the tool again without requestState',
        ),
      );
    if (fingerprint(msg) !== round.fingerprint) {
      const request = round.call.request;
      const what =
        request?.method === 'tools/call'
          ? ` (tool '${String(request.params?.name)}' with the same arguments)`
          : '';
      return this.host.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          `Invalid params: a retry must repeat the call its requestState belongs to${what}; nothing was run`,
        ),
      );
    }
    this.parked.delete(state);
    const call = round.call;
    const original = call.request!;
    const meta = params._meta as Record<string, unknown> | undefined;
    // The session answers through this very request object: it now names the retry.
    original.id = msg.id;
    original.params = { ...original.params, _meta: meta };
    call.clientId = msg.id;
    const token = meta?.progressToken;
    call.progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
    call.elicits = !!modernCapabilities(msg).elicitation;
    this.host.put(msg.id, call);
    const responses = params.inputResponses;
    round.resume(
      responses && typeof responses === 'object' ? (responses as Record<string, unknown>) : {},
      msg.id,
    );
  }

  /**
   * A 2025-era server's request (elicitation, sampling) during a call of a
   * 2026-07-28 client: it becomes an input_required round of that call, and
   * the retry's answer goes back to the server, whose call then goes on. A
   * request for a capability the call did not declare fails the call with
   * -32021, as the spec has it. `calls` are the calls in flight on that
   * server; with more than one, the request cannot be attributed and is
   * refused. A client that never retries leaves the server waiting: it is
   * answered after `timeoutMs`.
   */
  relay(
    server: RoundServer,
    msg: JsonRpcRequest,
    capability: string | undefined,
    calls: C[],
    timeoutMs: number,
  ): void {
    const refuse = (text: string) =>
      server.respond(errorResponse(msg.id, ErrorCode.MethodNotFound, text));
    if (!capability) return refuse(`Method not found: ${msg.method}`);
    if (calls.length !== 1)
      return refuse(
        calls.length
          ? `hitloop cannot tell which of ${calls.length} calls on '${server.name}' this ${msg.method} belongs to, so it was not relayed`
          : `${msg.method} outside a call cannot reach a ${MODERN_PROTOCOL_VERSION} client`,
      );
    const call = calls[0]!;
    if (!modernCapabilities(call.request!)[capability]) {
      refuse(`the client did not declare ${capability}`);
      const reason = `the server '${server.name}' needs the client capability '${capability}', which this request did not declare`;
      this.host.take(call.clientId);
      call.cancelled = true;
      if (call.upstreamId !== undefined) server.cancel(call.upstreamId, reason);
      return this.host.send(
        errorResponse(
          call.clientId,
          ModernErrorCode.MissingRequiredClientCapability,
          `Missing required client capability: ${reason}`,
          { requiredCapabilities: { [capability]: {} } },
        ),
        { relatedRequestId: call.clientId },
      );
    }
    const inputKey = `${capability}_${this.nextKey++}`;
    const { _meta: _dropped, ...params } = msg.params ?? {};
    let timer: NodeJS.Timeout | undefined;
    const askRound = (roundId: JsonRpcId) => {
      const state = this.ask(
        roundId,
        { [inputKey]: { method: msg.method, params } },
        (responses, retryId) => {
          clearTimeout(timer);
          const answer = responses[inputKey];
          // A retry without the answer is asked again, on its own round.
          if (!answer || typeof answer !== 'object') return askRound(retryId);
          server.respond(resultResponse(msg.id, answer as Record<string, unknown>));
        },
      );
      timer = setTimeout(() => {
        this.withdraw(state);
        server.respond(
          errorResponse(msg.id, ErrorCode.RequestTimeout, 'the client did not answer'),
        );
        if (call.upstreamId !== undefined)
          server.cancel(call.upstreamId, 'the client did not answer');
      }, timeoutMs);
      timer.unref?.();
    };
    askRound(call.clientId);
  }

  /** The calls waiting for a retry, all ended (the client is gone). */
  closeAll(): C[] {
    const calls = [...this.parked.values()].map((r) => r.call);
    this.parked.clear();
    return calls;
  }
}

/** What a retry must repeat of the request it continues: its method and params, without `_meta` and the retry fields. */
function fingerprint(request: JsonRpcRequest): string {
  const { _meta, inputResponses, requestState, ...params } = request.params ?? {};
  return argsHash({ method: request.method, params });
}
