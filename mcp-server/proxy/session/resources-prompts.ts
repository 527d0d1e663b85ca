import { createAction } from '../../../shared/models/action.js';
import { protectionOf } from '../../../shared/policies/protect-paths.js';
import {
  ErrorCode,
  errorResponse,
  type JsonRpcRequest,
  resultResponse,
} from '../jsonrpc/messages.js';
import type { UpstreamServer } from '../upstream/upstream-server.js';
import type { InFlight, SessionCore } from './session-core.js';

/**
 * Everything but tools that the proxy routes to one server or gathers from
 * all: `resources/*` (by URI, through listed resources and templates),
 * `prompts/*` (by exposed name), `completion/complete` (by its ref) and
 * `logging/setLevel` (to every server that logs). Answers are relayed as the
 * server sent them. hitloop's own files are refused as resources too.
 *
 * @example
 * const routes = new ResourcesAndPrompts(core);
 * await routes.listResources(msg); // resources/list, aggregated
 * await routes.routeByUri(msg, msg.params?.uri); // resources/read
 */
export class ResourcesAndPrompts {
  private readonly resourceOwners = new Map<string, UpstreamServer>();
  private templateOwners: Array<{ prefix: string; server: UpstreamServer }> = [];
  private readonly promptOwners = new Map<string, { server: UpstreamServer; name: string }>();
  /** hitloop's built-in protection of its own files, when on (see protect-paths.ts). */
  private readonly protection: ReturnType<typeof protectionOf>;

  constructor(private readonly core: SessionCore) {
    this.protection = protectionOf(core.config.policy);
  }

  /** resources/list, gathered from every server, remembering who owns which URI. */
  listResources(msg: JsonRpcRequest): Promise<void> {
    return this.aggregate(msg, 'resources', 'resources', (s, items) => {
      for (const r of items)
        if (typeof r.uri === 'string' && !this.resourceOwners.has(r.uri))
          this.resourceOwners.set(r.uri, s);
    });
  }

  /** resources/templates/list, gathered from every server, remembering each template's prefix. */
  listResourceTemplates(msg: JsonRpcRequest): Promise<void> {
    return this.aggregate(msg, 'resources', 'resourceTemplates', (s, items) => {
      this.templateOwners = this.templateOwners.filter((t) => t.server !== s);
      for (const t of items) {
        if (typeof t.uriTemplate === 'string')
          this.templateOwners.push({ prefix: t.uriTemplate.split('{')[0]!, server: s });
      }
    });
  }

  /** prompts/list, gathered from every server, under the names the client sees. */
  listPrompts(msg: JsonRpcRequest): Promise<void> {
    return this.aggregate(msg, 'prompts', 'prompts', (s, items) => {
      for (const p of items) {
        if (typeof p.name !== 'string') continue;
        const exposed = this.core.catalog.exposedName(s.name, p.name);
        this.promptOwners.set(exposed, { server: s, name: p.name });
        p.name = exposed;
      }
    });
  }

  /** logging/setLevel: every ready server that logs gets it; the client gets an empty result. */
  async setLogLevel(msg: JsonRpcRequest): Promise<void> {
    await Promise.allSettled(
      this.core.servers
        .filter((s) => s.state === 'ready' && s.capabilities.logging)
        .map((s) => s.request('logging/setLevel', msg.params)),
    );
    return this.core.send(resultResponse(msg.id, {}));
  }

  private async aggregate(
    msg: JsonRpcRequest,
    capability: string,
    listKey: string,
    collect: (server: UpstreamServer, items: Array<Record<string, unknown>>) => void,
  ): Promise<void> {
    const servers = this.core.servers.filter(
      (s) => s.state === 'ready' && s.capabilities[capability],
    );
    const results = await Promise.allSettled(servers.map((s) => s.listAll(msg.method, listKey)));
    const all: Array<Record<string, unknown>> = [];
    results.forEach((r, i) => {
      const server = servers[i]!;
      if (r.status === 'rejected') {
        this.core.deps.log.warn(
          `server '${server.name}': ${msg.method} failed: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`,
        );
        return;
      }
      const items = r.value as Array<Record<string, unknown>>;
      collect(server, items);
      all.push(...items);
    });
    this.core.send(resultResponse(msg.id, { [listKey]: all }));
  }

  /** resources/read, subscribe and unsubscribe (and a resource's completion): to the server owning `uri`. */
  async routeByUri(msg: JsonRpcRequest, uri: unknown): Promise<void> {
    if (typeof uri !== 'string')
      return this.core.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, `${msg.method} needs a string "uri"`),
      );
    // A client (or a model through its client's resource tool) may read a
    // file:// resource: hitloop's own files are refused here as they are in
    // tool arguments, since a hub token read this way approves calls too.
    const denied = this.protection?.(
      createAction({ toolName: msg.method, toolArgs: { uri }, riskClass: 'low' }),
    );
    if (denied)
      return this.core.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          `${msg.method} of ${uri} was refused: ${denied.reason}`,
        ),
      );
    let owner = this.resourceOwner(uri);
    if (!owner) {
      // The client may read a resource it never listed (a known URI, a
      // template it built itself): learn the servers' resources, then retry.
      await this.learnResources();
      owner = this.resourceOwner(uri);
    }
    if (!owner) {
      return this.core.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          `Unknown resource: ${uri} (no server lists it or a matching template)`,
        ),
      );
    }
    this.forward(msg, owner, msg.params);
  }

  private resourceOwner(uri: string): UpstreamServer | undefined {
    const candidates = this.core.servers.filter((s) => s.capabilities.resources);
    if (candidates.length === 1) return candidates[0];
    return (
      this.resourceOwners.get(uri) ??
      this.templateOwners
        .filter((t) => t.prefix && uri.startsWith(t.prefix))
        .sort((a, b) => b.prefix.length - a.prefix.length)[0]?.server
    );
  }

  private async learnResources(): Promise<void> {
    const servers = this.core.servers.filter(
      (s) => s.state === 'ready' && s.capabilities.resources,
    );
    await Promise.allSettled(
      servers.map(async (s) => {
        for (const r of await s.listAll('resources/list', 'resources')) {
          if (typeof r.uri === 'string' && !this.resourceOwners.has(r.uri))
            this.resourceOwners.set(r.uri, s);
        }
        const templates = await s.listAll('resources/templates/list', 'resourceTemplates');
        this.templateOwners = this.templateOwners.filter((t) => t.server !== s);
        for (const t of templates) {
          if (typeof t.uriTemplate === 'string')
            this.templateOwners.push({ prefix: t.uriTemplate.split('{')[0]!, server: s });
        }
      }),
    );
  }

  /** prompts/get: to the server of the prompt, under the server's own name for it. */
  routePrompt(
    msg: JsonRpcRequest,
    name: unknown,
    rewrite: (name: string) => Record<string, unknown>,
  ): void {
    if (typeof name !== 'string')
      return this.core.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, 'prompts/get needs a string "name"'),
      );
    const owner = this.promptOwner(name);
    if (!owner)
      return this.core.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, `Unknown prompt: ${name}`),
      );
    this.forward(msg, owner.server, rewrite(owner.name));
  }

  private promptOwner(name: string): { server: UpstreamServer; name: string } | undefined {
    const known = this.promptOwners.get(name);
    if (known) return known;
    // Not listed yet: resolve from the naming rule.
    const proxy = this.core.config.proxy;
    for (const s of this.core.servers) {
      if (!s.capabilities.prompts) continue;
      const prefix = proxy.prefixNames ? `${s.name}${proxy.separator}` : '';
      if (name.startsWith(prefix)) return { server: s, name: name.slice(prefix.length) };
    }
    return undefined;
  }

  /** completion/complete: to the server of the prompt or resource its ref names. */
  routeCompletion(msg: JsonRpcRequest): void {
    const ref = msg.params?.ref as Record<string, unknown> | undefined;
    if (ref?.type === 'ref/prompt') {
      return this.routePrompt(msg, ref.name, (name) => ({ ...msg.params, ref: { ...ref, name } }));
    }
    if (ref?.type === 'ref/resource') return void this.routeByUri(msg, ref.uri);
    this.core.send(
      errorResponse(
        msg.id,
        ErrorCode.InvalidParams,
        'completion/complete needs a ref of type ref/prompt or ref/resource',
      ),
    );
  }

  private forward(
    msg: JsonRpcRequest,
    server: UpstreamServer,
    params: Record<string, unknown> | undefined,
  ): void {
    const core = this.core;
    const call: InFlight = {
      clientId: msg.id,
      cancelled: false,
      progressSent: 0,
      server,
      request: msg,
    };
    core.inflight.set(msg.id, call);
    call.upstreamId = server.forward(msg.method, params, (response, raw) => {
      core.inflight.delete(msg.id);
      if (!call.cancelled) core.relay(response, raw, call.upstreamId!, msg.id);
    });
  }
}
