import type { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { ToolDefinition, UpstreamServer } from '../upstream/upstream-server.js';
import { exposedToolName } from './tool-call.js';

/** A tool as the client sees it, and where it really lives. */
export interface CatalogEntry {
  exposedName: string;
  server: UpstreamServer;
  tool: ToolDefinition;
  /** Whether an edited call's structured result may carry `hitloop_note` (its listed output schema allows it). */
  structuredNote: boolean;
}

/** The key under which an edited call's structured result tells the model what ran. */
export const NOTE_KEY = 'hitloop_note';

/**
 * The tool as listed to the client: its output schema, if it is a plain
 * object schema, also allows an optional `hitloop_note` string. Codex and
 * Claude Code give the model a result's structuredContent rather than its
 * text when there is one, so an edit note must be able to go there, and a
 * client that validates results against the listed schema must accept it.
 */
function listedWithNote(tool: ToolDefinition): { tool: ToolDefinition; structuredNote: boolean } {
  const schema = tool.outputSchema as Record<string, unknown> | undefined;
  if (schema === undefined) return { tool, structuredNote: true };
  const props = schema.properties;
  if (schema.type !== 'object' || (props !== undefined && (typeof props !== 'object' || !props)))
    return { tool, structuredNote: false };
  if (props && NOTE_KEY in props) return { tool, structuredNote: false }; // the server's own key
  const note = {
    type: 'string',
    description:
      "Set by hitloop when a reviewer edited this call's arguments before it ran: who, why, and the arguments that ran.",
  };
  return {
    tool: {
      ...tool,
      outputSchema: {
        ...schema,
        properties: { ...(props as object | undefined), [NOTE_KEY]: note },
      },
    },
    structuredNote: true,
  };
}

/** Two servers offering the same exposed name. */
export interface Collision {
  name: string;
  servers: string[];
}

// Ajv and the SDK's wrapper take about 40 ms to load; the proxy loads them
// after answering the client's initialize (loadValidators), not before.
let Validator: typeof AjvJsonSchemaValidator | undefined;
let validatorFactory: AjvJsonSchemaValidator | undefined;
let loading: Promise<void> | undefined;
/** Each `$id` the shared factory has compiled, with the schema it stands for. */
const compiledIds = new Map<string, string>();

/**
 * Loads the JSON Schema validator; `ToolCatalog.validate` needs it loaded.
 * Idempotent.
 *
 * @example
 * await loadValidators();
 * catalog.validate('fs__write_file', args);
 */
export function loadValidators(): Promise<void> {
  loading ??= import('@modelcontextprotocol/sdk/validation/ajv').then(
    (m) => {
      Validator = m.AjvJsonSchemaValidator;
      validatorFactory = new Validator();
    },
    (err: unknown) => {
      loading = undefined; // the next call tries again
      throw err;
    },
  );
  return loading;
}

/** True once `loadValidators` has finished: until then a call awaits it first. */
export function validatorsLoaded(): boolean {
  return validatorFactory !== undefined;
}

/**
 * A validator for one tool's inputSchema. The SDK's Ajv reuses whatever it
 * first compiled under a schema's `$id`, so a different schema under an `$id`
 * already seen (two servers, or one whose schema changed) gets a factory of
 * its own instead of being checked against the first one.
 */
function validatorFor(schema: Record<string, unknown>) {
  if (!validatorFactory || !Validator)
    throw new Error('loadValidators() must finish before arguments are validated');
  const id = schema.$id;
  if (typeof id !== 'string') return validatorFactory.getValidator(schema as never);
  const text = JSON.stringify(schema);
  const first = compiledIds.get(id);
  if (first === undefined) compiledIds.set(id, text);
  else if (first !== text) return new Validator().getValidator(schema as never);
  return validatorFactory.getValidator(schema as never);
}

/**
 * The aggregated tool list: each upstream tool under its exposed name
 * (`SERVER__TOOL` when prefixing), with schema, title, description and
 * annotations kept as the server gave them. A name two servers claim is a
 * collision, reported, never silently resolved.
 */
export class ToolCatalog {
  private entries = new Map<string, CatalogEntry & { listed: ToolDefinition }>();
  private listed: ToolDefinition[] = [];
  private readonly validators = new Map<string, (args: unknown) => string[]>();
  collisions: Collision[] = [];

  constructor(
    private readonly naming: { prefixNames: boolean; separator: string },
    private readonly reserved: ReadonlyMap<string, ToolDefinition> = new Map(),
  ) {}

  exposedName(server: string, tool: string): string {
    return exposedToolName(server, tool, this.naming);
  }

  /** Rebuilds from the servers' current tool lists. */
  rebuild(servers: readonly UpstreamServer[]): void {
    const entries = new Map<string, CatalogEntry & { listed: ToolDefinition }>();
    const owners = new Map<string, string[]>();
    for (const name of this.reserved.keys()) owners.set(name, ['hitloop']);
    for (const server of servers) {
      for (const tool of server.tools) {
        const exposedName = this.exposedName(server.name, tool.name);
        const claimed = owners.get(exposedName);
        if (claimed) {
          claimed.push(server.name);
          continue;
        }
        owners.set(exposedName, [server.name]);
        const listed = listedWithNote(tool);
        entries.set(exposedName, {
          exposedName,
          server,
          tool,
          structuredNote: listed.structuredNote,
          listed: listed.tool,
        });
      }
    }
    this.collisions = [...owners.entries()]
      .filter(([, who]) => who.length > 1)
      .map(([name, who]) => ({ name, servers: who }));
    // A colliding name is withheld from every server rather than given to one.
    for (const c of this.collisions) entries.delete(c.name);
    this.entries = entries;
    this.validators.clear();
    this.listed = [
      ...[...this.reserved.values()],
      ...[...entries.values()].map((e) =>
        e.exposedName === e.listed.name ? e.listed : { ...e.listed, name: e.exposedName },
      ),
    ];
  }

  get(exposedName: string): CatalogEntry | undefined {
    return this.entries.get(exposedName);
  }

  list(): ToolDefinition[] {
    return this.listed;
  }

  /** Validates arguments against the tool's inputSchema; returns problems, empty when valid. */
  validate(exposedName: string, args: unknown): string[] {
    let check = this.validators.get(exposedName);
    if (!check) {
      const schema =
        this.entries.get(exposedName)?.tool.inputSchema ??
        this.reserved.get(exposedName)?.inputSchema;
      if (!schema) return [];
      const validator = validatorFor(schema as Record<string, unknown>);
      check = (value) => {
        const r = validator(value);
        return r.valid ? [] : [r.errorMessage ?? 'arguments do not match the input schema'];
      };
      this.validators.set(exposedName, check);
    }
    return check(args);
  }
}
