import { z } from 'zod';
import { HitloopConfigFile } from './schema.js';

/** Where the published schema can be fetched (the npm package ships `schemas/`). */
export const CONFIG_SCHEMA_ID = 'https://unpkg.com/hitloop/schemas/hitloop-config.schema.json';

/**
 * The JSON Schema (draft-07, which editors support best) of a hitloop config
 * file, generated from the zod schemas the loader validates with, so the two
 * cannot disagree. `scripts/gen-config-schema.mjs` writes it to
 * `schemas/hitloop-config.schema.json`.
 *
 * @example
 * const schema = buildConfigJsonSchema();
 * schema.properties.mcpServers // the Claude / Cursor server map
 */
export function buildConfigJsonSchema(): Record<string, unknown> & {
  properties: Record<string, unknown>;
} {
  // io "input": what a person writes, so fields with defaults are optional.
  const generated = z.toJSONSchema(HitloopConfigFile, {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown> & { properties: Record<string, unknown> };
  // Both server maps hold the same entries: describe them once.
  const { properties } = generated;
  const maps = [properties.servers, properties.mcpServers] as Array<{
    additionalProperties?: unknown;
  }>;
  const server = maps[0]?.additionalProperties;
  for (const map of maps) map.additionalProperties = { $ref: '#/definitions/server' };
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: CONFIG_SCHEMA_ID,
    title: 'hitloop config',
    ...rest,
    definitions: { server },
  };
}
