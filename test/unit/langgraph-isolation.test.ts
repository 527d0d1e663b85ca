import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/temp-dir.js';

const root = resolve(import.meta.dirname, '../..');

/** Every module the source of `entry` reaches through relative imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (graph.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map(
      (m) => m[1] as string,
    );
    graph.set(file, specs);
    for (const s of specs) {
      if (!s.startsWith('.')) continue;
      const target = resolve(dirname(file), s.replace(/\.js$/, '.ts'));
      if (existsSync(target)) todo.push(target);
    }
  }
  return graph;
}

/**
 * Runs `body` (module code) in a fresh Node process that logs every module it
 * resolves; returns the process result and the resolved URLs.
 */
function resolvedUrls(body: string): {
  stderr: string;
  status: number | null;
  urls: string[];
} {
  const dir = makeTempDir('hitloop-iso-');
  try {
    const log = join(dir, 'resolved.log');
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`,
    );
    const script = `
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
${body}`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    const urls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    return { stderr: r.stderr, status: r.status, urls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('importing hitloop does not load @langchain', () => {
  it('no module reachable from shared/index.ts imports @langchain or shared/langgraph', () => {
    const graph = importGraph(join(root, 'shared/index.ts'));
    expect(graph.size).toBeGreaterThan(20);
    const offenders = [...graph].filter(
      ([file, specs]) =>
        file.includes('/shared/langgraph/') || specs.some((s) => s.startsWith('@langchain/')),
    );
    expect(offenders.map(([f]) => f)).toEqual([]);
    // The check itself can see a langgraph import: the subpath's graph has them.
    const lg = importGraph(join(root, 'shared/langgraph/index.ts'));
    expect([...lg.values()].flat().some((s) => s.startsWith('@langchain/'))).toBe(true);
  });

  it('hitloop/langgraph does not load `langchain` (an optional peer only hitloop/langchain needs)', () => {
    const lg = importGraph(join(root, 'shared/langgraph/index.ts'));
    const offenders = [...lg].filter(
      ([file, specs]) =>
        file.includes('/shared/langgraph/langchain/') ||
        specs.some((s) => s === 'langchain' || s.startsWith('langchain/')),
    );
    expect(offenders.map(([f]) => f)).toEqual([]);
    // The check can see it: the hitloop/langchain subpath imports it.
    const lc = importGraph(join(root, 'shared/langgraph/langchain/index.ts'));
    expect([...lc.values()].flat()).toContain('langchain');
  });

  const builtLangchain = join(root, 'dist/shared/langgraph/langchain/index.js');
  it.skipIf(!existsSync(builtLangchain))(
    'dist: hitloop/langgraph resolves no `langchain` module; hitloop/langchain loads the middleware',
    () => {
      const lg = pathToFileURL(join(root, 'dist/shared/langgraph/index.js')).href;
      const r = resolvedUrls(`
const m = await import(${JSON.stringify(lg)});
if (typeof m.withApproval !== 'function') throw new Error('hitloop/langgraph did not load');
`);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.urls.some((u) => u.includes('/node_modules/@langchain/langgraph/'))).toBe(true);
      expect(r.urls.filter((u) => u.includes('/node_modules/langchain/'))).toEqual([]);
      const lc = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(pathToFileURL(builtLangchain).href)}); console.log(typeof m.hitloopMiddleware);`,
        ],
        { cwd: root, encoding: 'utf8' },
      );
      expect(lc.stderr).toBe('');
      expect(lc.stdout.trim()).toBe('function');
    },
  );

  const built = join(root, 'dist/shared/index.js');
  it.skipIf(!existsSync(built))(
    'a node process importing dist/shared/index.js resolves no @langchain module',
    () => {
      const r = resolvedUrls(`
const m = await import(${JSON.stringify(pathToFileURL(built).href)});
if (typeof m.gateAction !== 'function') throw new Error('hitloop did not load');
// HITLOOP_ISOLATION_SELFTEST=1 makes the child load @langchain, to see this test fail.
${process.env.HITLOOP_ISOLATION_SELFTEST ? `await import('@langchain/langgraph');` : ''}
`);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.urls.some((u) => u.endsWith('/dist/shared/index.js'))).toBe(true);
      expect(r.urls.filter((u) => u.includes('@langchain') || u.includes('/langgraph/'))).toEqual(
        [],
      );
    },
  );
});
