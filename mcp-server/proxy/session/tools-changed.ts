import type { UpstreamServer } from '../upstream/upstream-server.js';
import type { SessionCore } from './session-core.js';

/** How long bursts of changes (several servers coming up at once) are gathered into one notification. */
const COALESCE_MS = 50;

/**
 * `notifications/tools/list_changed` towards the client: when a server's
 * tools change (it reloaded them, came up late, or went down), the catalog
 * is rebuilt and the client told, once per burst, if what it sees changed.
 *
 * @example
 * const changes = new ToolsChanged(core);
 * changes.serverChanged(server); // from UpstreamListener.onChanged
 * changes.close();
 */
export class ToolsChanged {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly core: SessionCore) {}

  serverChanged(server: UpstreamServer): void {
    const core = this.core;
    if (!core.initialized || core.closed) return;
    // Whole definitions, not just names: a server that changes a tool's schema
    // or description under the same name must reach the client too, or the
    // client keeps calling with a schema the proxy now refuses.
    const before = JSON.stringify(core.catalog.list());
    core.catalog.rebuild(core.servers);
    if (core.catalog.collisions.length) core.deps.log.error(core.collisionText());
    if (JSON.stringify(core.catalog.list()) === before && server.state === 'ready') return;
    // Coalesce bursts (several servers coming up at once) into one notification.
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => core.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }),
      COALESCE_MS,
    );
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
