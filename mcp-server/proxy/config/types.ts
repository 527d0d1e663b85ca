import type { ApprovalBackend } from '../../../shared/backends/backend.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';

// The proxy consumes a *resolved* config: files read, ${env:...} expanded,
// defaults applied, both mcp.json shapes folded into one. Loading lives in
// ./load.ts; everything downstream of it can trust these types.

/** An upstream MCP server the proxy connects to. */
export type UpstreamSpec =
  | {
      name: string;
      type: 'stdio';
      command: string;
      args: string[];
      env: Record<string, string>;
      cwd?: string;
      trusted: boolean;
    }
  | {
      name: string;
      type: 'http' | 'sse';
      url: string;
      headers: Record<string, string>;
      trusted: boolean;
    };

/** Names of the approval channels a config may select. */
export type ApprovalBackendName =
  | 'hub'
  | 'auto-approve'
  | 'auto-reject'
  | 'cli'
  | 'elicitation'
  | 'webhook';

/** `approval.webhook`, resolved (variables expanded, defaults filled). */
export interface WebhookSettings {
  url: string;
  callbackBaseUrl: string;
  secret: string;
  listen?: string;
  headers: Record<string, string>;
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number; jitter: number };
  circuitBreaker: { failureThreshold: number; resetTimeoutMs: number; halfOpenMaxCalls: number };
}

export interface ApprovalSettings {
  backend: ApprovalBackendName;
  /** Used when the primary backend cannot ask (e.g. the client lacks elicitation). */
  fallback: Exclude<ApprovalBackendName, 'elicitation' | 'webhook'>;
  /** Default approval timeout, ms (10 minutes). */
  timeoutMs: number;
  /** Per-tool timeouts keyed by tool-name glob (matched against the exposed, namespaced name). */
  toolTimeouts: Array<{ tool: string; timeoutMs: number }>;
  /** How often to send progress keep-alives while a call waits, ms. */
  keepAliveMs: number;
  /** Approval store: undefined for the default SQLite file, else a URL or path (`openApprovalStore`). */
  store?: string;
  /** Stable instance name (thread id of this proxy's approvals); undefined: derived. */
  instance?: string;
  /** How long a dead proxy's approvals wait for it to restart, ms. */
  resumeWindowMs: number;
  /** The webhook channel's settings (required when backend is "webhook"). */
  webhook?: WebhookSettings;
}

export interface TelemetrySettings {
  /** SQLite file, or undefined when telemetry is off. */
  db?: string;
  required: boolean;
  /** Secret argument keys stored hashed: true (default words), a regex source, or false. */
  redactKeys: string | boolean;
}

export interface ProxySettings {
  /** Prefix tool and prompt names with `SERVER` + separator. Default: true when more than one server. */
  prefixNames: boolean;
  separator: string;
  /** hitloop's built-in protection of its own files (see proxyPolicy); default true. */
  protectHitloopFiles: boolean;
  /** More files or folders protected like hitloop's own (absolute, resolved by the loader). */
  protectedPaths: string[];
  /** Also expose Claude Code's permission-prompt tool `approve`. */
  permissionPrompt: boolean;
  /** The proxy's name in the client's config: permission prompts for `mcp__<it>__<own tool>` pass (the call is gated when it arrives). */
  nameInClient: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** Largest JSON-RPC message accepted from the client or an upstream, bytes. */
  maxMessageBytes: number;
  /** How long a server may take to start before it is reported as failed, ms. */
  startupTimeoutMs: number;
  /** How long initialize waits for servers still starting, ms (default: startupTimeoutMs; 0: not at all). */
  initializeWaitMs?: number;
  /** How long an allowed call may run upstream before the proxy gives up, ms (0: forever). */
  executionTimeoutMs: number;
  /** Per-tool execution timeouts keyed by a glob over the exposed tool name, ms; first match wins. */
  executionTimeouts: Record<string, number>;
  /** With --http: most sessions (each with its own upstream processes) at once. */
  httpMaxSessions: number;
  /** With --http: a quiet session with no call in progress is closed after this long, ms. */
  httpIdleSessionMs: number;
}

/** Everything `hitloop proxy` needs, resolved and validated. */
export interface ResolvedProxyConfig {
  /** Where the config came from (a file path, or "command line"). */
  source: string;
  servers: UpstreamSpec[];
  policy: HITLPolicy;
  approval: ApprovalSettings;
  telemetry: TelemetrySettings;
  proxy: ProxySettings;
  /** The config and policy files this was read from (absolute), protected like hitloop's own files. */
  configFiles?: string[];
}

/** Builds approval backends; the proxy registers the ones it can make (hub, elicitation) at run time. */
export type BackendFactory = (name: ApprovalBackendName) => ApprovalBackend | undefined;
