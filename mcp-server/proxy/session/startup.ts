import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import {
  ErrorCode,
  errorResponse,
  type JsonRpcRequest,
  resultResponse,
} from '../jsonrpc/messages.js';
import { checkModernEnvelope } from './protocol-2026.js';
import type { ProxySession } from './proxy-session.js';
import { proxyServerInfo } from './server-identity.js';
import type { SessionCore } from './session-core.js';
import { loadValidators } from './tool-catalog.js';

/** What the proxy asks of upstream servers for a 2026-07-28 client: the latest 2025-era revision. */
const UPSTREAM_PROTOCOL_VERSION = '2025-11-25';

/**
 * How a session begins: the 2025-era `initialize` (version negotiation,
 * the proxy's capabilities, the servers' instructions), or the first
 * 2026-07-28 request, which has no handshake. Either starts the upstream
 * servers once, builds the tool catalog, picks the approval channel and
 * opens the telemetry run.
 *
 * @example
 * const startup = new SessionStartup(core, session, () => requests.markClientReady());
 * await startup.initialize(msg); // answers the client's initialize
 */
export class SessionStartup {
  private starting: Promise<string | undefined> | undefined;

  constructor(
    private readonly core: SessionCore,
    private readonly session: ProxySession,
    private readonly markClientReady: () => void,
  ) {}

  async initialize(msg: JsonRpcRequest): Promise<void> {
    const core = this.core;
    if (core.initialized || this.starting) {
      return core.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidRequest,
          core.era === 'modern'
            ? 'initialize after 2026-07-28 requests on this connection: use one protocol era per connection'
            : 'initialize was already received',
        ),
      );
    }
    const params = msg.params ?? {};
    core.clientCapabilities = (params.capabilities as Record<string, unknown>) ?? {};
    core.clientInfo = (params.clientInfo as Record<string, unknown>) ?? {};
    const requested =
      typeof params.protocolVersion === 'string' ? params.protocolVersion : LATEST_PROTOCOL_VERSION;
    const protocolVersion = SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
      ? requested
      : LATEST_PROTOCOL_VERSION;
    // Upstream servers see the client's own capabilities, so they only send
    // elicitation, sampling or roots requests the client can answer.
    this.starting = this.startUpstreams(protocolVersion, core.clientCapabilities);
    const problem = await this.starting;
    if (problem) return core.send(errorResponse(msg.id, ErrorCode.InternalError, problem));
    core.send(
      resultResponse(msg.id, {
        protocolVersion,
        capabilities: {
          tools: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          prompts: { listChanged: true },
          completions: {},
          logging: {},
        },
        serverInfo: this.serverInfo(),
        ...(this.instructions() ? { instructions: this.instructions() } : {}),
      }),
    );
    // Needed by the first tools/call; loaded now that the client has its answer.
    // A failure here is retried, and reported, by the call that needs them.
    loadValidators().catch(() => undefined);
  }

  /** Starts the session for a 2026-07-28 client, once; the envelope was checked by EraTransport. */
  startModern(msg: JsonRpcRequest): Promise<string | undefined> {
    if (this.starting) return this.starting;
    const core = this.core;
    const checked = checkModernEnvelope(msg);
    const envelope = 'envelope' in checked ? checked.envelope : undefined;
    core.era = 'modern';
    core.clientCapabilities = envelope?.clientCapabilities ?? {};
    // clientInfo is optional in this revision, but 2025-era servers require a name and version.
    const info = envelope?.clientInfo;
    core.clientInfo =
      typeof info?.name === 'string' && typeof info.version === 'string'
        ? info
        : { name: 'hitloop-proxy', version: core.deps.version };
    // The servers behind are asked in the 2025 era, which every server speaks.
    // Elicitation and sampling requests of the servers become input_required rounds
    // (askThroughRound); roots are not offered, since a server asks for them outside any call.
    const upstreamCapabilities = { elicitation: { form: {} }, sampling: {} };
    this.starting = this.startUpstreams(UPSTREAM_PROTOCOL_VERSION, upstreamCapabilities).then(
      (problem) => {
        if (!problem) {
          this.markClientReady();
          loadValidators().catch(() => undefined);
        }
        return problem;
      },
    );
    return this.starting;
  }

  /** How the proxy names itself to clients (initialize, and `_meta` of modern results). */
  serverInfo(): Record<string, unknown> {
    const core = this.core;
    return { ...proxyServerInfo(core.servers, core.config.proxy.nameInClient, core.deps.version) };
  }

  /** The servers' own instructions, each under its server's name. */
  instructions(): string {
    return this.core.servers
      .filter((s) => s.instructions)
      .map((s) => `[${s.name}]\n${s.instructions}`)
      .join('\n\n');
  }

  /**
   * Starts the upstream servers once, for the first initialize or the first
   * modern request; resolves with a problem text when the session cannot serve.
   */
  private async startUpstreams(
    protocolVersion: string,
    capabilities: Record<string, unknown>,
  ): Promise<string | undefined> {
    const core = this.core;
    const upstreamInit = { protocolVersion, capabilities, clientInfo: core.clientInfo };
    const startup = Promise.all(core.servers.map((s) => s.start(upstreamInit)));
    // Servers that are not ready by then join later through tools/list_changed.
    const waitMs = core.config.proxy.initializeWaitMs ?? core.config.proxy.startupTimeoutMs;
    if (waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        startup,
        new Promise((resolve) => {
          timer = setTimeout(resolve, waitMs);
        }),
      ]);
      clearTimeout(timer);
    }
    core.catalog.rebuild(core.servers);
    if (core.catalog.collisions.length) {
      const text = core.collisionText();
      core.deps.log.error(text);
      return text;
    }
    for (const s of core.servers) {
      if (s.state !== 'ready')
        core.deps.log.warn(
          `server '${s.name}' is not ready yet (${s.failure ?? s.state}); its tools will appear when it is`,
        );
    }
    core.backend = core.deps.resolveBackend(this.session);
    core.runId = core.deps.telemetry?.startRun({
      condition: core.config.policy.name,
      scenario: 'mcp-proxy',
      metadata: {
        client: core.clientInfo,
        transport: core.deps.transportName,
        servers: core.servers.map((s) => s.name),
        approval_backend: core.backend.name,
        config: core.config.source,
      },
    });
    core.initialized = true;
    return undefined;
  }
}
