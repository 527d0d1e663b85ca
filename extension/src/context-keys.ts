// The context keys the manifest's `when` clauses read, so the Command Palette
// and the view's title bar show only the commands that can act now. No
// `vscode` import: the extension passes in how a key is set.

/** Every context key the extension sets; the manifest test checks `when` clauses against it. */
export const CONTEXT_KEYS = [
  /** A tool call waits for a decision (in this window's scope). */
  'hitloop.hasPending',
  /** One of the waiting calls is a file write whose diff can be shown. */
  'hitloop.hasPendingWrite',
  /** The Approvals view has checked items ("Approve/Reject Selected"). */
  'hitloop.hasSelection',
  /** A workspace folder has a `.vscode/mcp.json` (something to route). */
  'hitloop.hasMcpJson',
  /** A server in a workspace `.vscode/mcp.json` goes through hitloop (something to undo). */
  'hitloop.routed',
  /** `hitloop.remoteHubs` lists a hub to disconnect from. */
  'hitloop.hasRemoteHubs',
] as const;

export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** What the keys are computed from. */
export interface ContextState {
  pending: number;
  pendingWrites: number;
  selected: number;
  mcpJsonFiles: number;
  routedFiles: number;
  remoteHubs: number;
}

/**
 * The value of every key for a state.
 *
 * @example
 * contextValues({ pending: 1, pendingWrites: 0, selected: 0, mcpJsonFiles: 1, routedFiles: 0, remoteHubs: 0 })
 * // { 'hitloop.hasPending': true, 'hitloop.hasPendingWrite': false, ... }
 */
export function contextValues(state: ContextState): Record<ContextKey, boolean> {
  return {
    'hitloop.hasPending': state.pending > 0,
    'hitloop.hasPendingWrite': state.pendingWrites > 0,
    // A selection only counts while something is waiting: decided items leave it.
    'hitloop.hasSelection': state.selected > 0 && state.pending > 0,
    'hitloop.hasMcpJson': state.mcpJsonFiles > 0,
    'hitloop.routed': state.routedFiles > 0,
    'hitloop.hasRemoteHubs': state.remoteHubs > 0,
  };
}

const EMPTY: ContextState = {
  pending: 0,
  pendingWrites: 0,
  selected: 0,
  mcpJsonFiles: 0,
  routedFiles: 0,
  remoteHubs: 0,
};

/**
 * Keeps the context keys in step with the state: every key is set once at
 * start, then only the keys whose value changed (each `setContext` is a
 * round trip to the renderer).
 *
 * @example
 * const keys = new ContextKeys((key, value) => vscode.commands.executeCommand('setContext', key, value));
 * keys.update({ pending: hubs.snapshot().pending.length });
 */
export class ContextKeys {
  private state: ContextState = { ...EMPTY };
  private readonly shown = new Map<ContextKey, boolean>();

  constructor(private readonly set: (key: ContextKey, value: boolean) => unknown) {
    this.apply();
  }

  /** The state as last updated. */
  get current(): Readonly<ContextState> {
    return this.state;
  }

  update(change: Partial<ContextState>): void {
    this.state = { ...this.state, ...change };
    this.apply();
  }

  private apply(): void {
    for (const [key, value] of Object.entries(contextValues(this.state)) as Array<
      [ContextKey, boolean]
    >) {
      if (this.shown.get(key) === value) continue;
      this.shown.set(key, value);
      this.set(key, value);
    }
  }
}
