import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_JSONC_DEPTH, parseJsonc } from '../../mcp-server/proxy/config/jsonc.js';
import { loadProxyConfig } from '../../mcp-server/proxy/config/load.js';
import { configError } from '../helpers/config-error.js';
import { tempDir } from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';

// A config nested 20,000 deep used to end in "Maximum call stack size
// exceeded" and exit 1; it is a config error like any other: exit 2, the
// file named, what is wrong, no stack trace.

const tmp = tempDir('hitloop-deep-');
afterAll(() => tmp.remove());

const DEPTH = 20_000;
const server = { mcpServers: { fs: { command: 'node', args: ['server.js'] } } };
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const lists = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** Files that nest 20,000 deep in different places, JSON and JSONC. */
const files = {
  'deep-policy.json': `{"mcpServers": ${JSON.stringify(server.mcpServers)}, "policy": {"type": "rules", "rules": [{"tool": "x", "effect": "allow", "args": {"a": {"equals": ${nested(DEPTH)}}}}]}}`,
  'deep-lists.json': `{"policy": ${lists(DEPTH)}}`,
  'deep.jsonc': `// a comment makes it JSONC\n{\n  "mcpServers": ${JSON.stringify(server.mcpServers)},\n  "x": ${nested(DEPTH)},\n}\n`,
};
const paths = Object.entries(files).map(([name, text]) => {
  const file = join(tmp.dir, name);
  writeFileSync(file, text);
  return file;
});

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('configs nested too deep', () => {
  it('the parser refuses them with a ConfigError naming the file, the limit and where', () => {
    for (const file of paths) {
      const err = configError(() => loadProxyConfig(file, { onWarning: () => {} }));
      expect(err.file).toBe(file);
      expect(err.problem).toMatch(
        new RegExp(`nested deeper than ${MAX_JSONC_DEPTH} levels \\(at line \\d+, column \\d+\\)`),
      );
    }
    // Up to the limit is fine.
    expect(parseJsonc(nested(MAX_JSONC_DEPTH - 1), 'ok.json').value).toBeTypeOf('object');
    expect(configError(() => parseJsonc(nested(MAX_JSONC_DEPTH + 1), 'x.json')).file).toBe(
      'x.json',
    );
  });
  it('hitloop proxy --config and hitloop policy check --config exit 2 naming the file', () => {
    for (const file of paths) {
      for (const args of [
        ['proxy', '--config', file],
        ['policy', 'check', '--config', file, '--tool', 'fs__x'],
      ]) {
        const r = runHitloop(args, { env: { HITLOOP_HOME: tmp.dir } });
        expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(`${file}: objects and lists are nested deeper than`);
        expect(r.stderr).not.toContain('Maximum call stack');
        noStack(r.stderr);
      }
    }
  });
});
