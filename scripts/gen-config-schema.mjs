// Writes schemas/hitloop-config.schema.json from the zod schemas in
// mcp-server/proxy/config/schema.ts. Build first, then run:
//
//   npx tsc -p tsconfig.build.json && node scripts/gen-config-schema.mjs
//
// test/unit/proxy-config.test.ts fails when the committed file is stale.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const built = new URL('dist/mcp-server/proxy/config/json-schema.js', root);
if (!existsSync(built)) {
  console.error(
    `gen-config-schema: ${fileURLToPath(built)} is missing; run npx tsc -p tsconfig.build.json first`,
  );
  process.exit(1);
}
const { buildConfigJsonSchema } = await import(built.href);
const out = new URL('schemas/hitloop-config.schema.json', root);
mkdirSync(new URL('schemas/', root), { recursive: true });
writeFileSync(out, `${JSON.stringify(buildConfigJsonSchema(), null, 2)}\n`);

// Match the repository's formatting so `biome check .` stays clean; the
// staleness test compares parsed JSON, so this step is cosmetic.
const biome = new URL('node_modules/@biomejs/biome/bin/biome', root);
if (existsSync(biome)) {
  spawnSync(process.execPath, [fileURLToPath(biome), 'format', '--write', fileURLToPath(out)], {
    stdio: 'ignore',
  });
}
console.log(`wrote ${fileURLToPath(out)}`);
