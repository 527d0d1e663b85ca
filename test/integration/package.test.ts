import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/temp-dir.js';

// What `npm pack` ships: the package a user installs from a tarball. Reads
// npm's own file list (`npm pack --dry-run --json`), so it checks the
// `files` list, .npmignore rules and package.json together. Needs a build
// (`npm test` builds first).

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  main: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface PackedFile {
  path: string;
  mode: number;
  size: number;
}

let files: PackedFile[];
let paths: Set<string>;

beforeAll(() => {
  // --ignore-scripts: `prepare` would rebuild dist/ under the other tests.
  const r = spawnSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  files = (JSON.parse(r.stdout) as Array<{ files: PackedFile[] }>)[0]!.files;
  paths = new Set(files.map((f) => f.path));
}, 60_000);

const rel = (p: string) => p.replace(/^\.\//, '');

describe('the npm package (npm pack)', () => {
  it('ships the licence, the README, the manifest and the JSON schema', () => {
    for (const p of ['LICENSE', 'README.md', 'package.json', 'schemas/hitloop-config.schema.json'])
      expect(paths, p).toContain(p);
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) 2026 the hitloop authors\n/,
    );
  });

  it('ships the bin, executable, with a node shebang', () => {
    const bin = rel(pkg.bin.hitloop!);
    const entry = files.find((f) => f.path === bin);
    expect(entry, bin).toBeDefined();
    expect(entry!.mode & 0o111, `${bin} is not executable in the tarball`).not.toBe(0);
    expect(readFileSync(join(root, bin), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    // Its lazily loaded chunks sit beside it.
    expect([...paths].filter((p) => p.startsWith('dist/cli/')).length).toBeGreaterThan(5);
  });

  it('every file main, types and exports name is in the package', () => {
    const named = [pkg.main];
    for (const target of Object.values(pkg.exports))
      named.push(...(typeof target === 'string' ? [target] : Object.values(target)));
    for (const p of named) expect(paths, p).toContain(rel(p));
  });

  it('exports can be required as well as imported (Node >= 20.19 loads ESM with require())', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(target.default ?? target.require, `exports["${subpath}"]`).toBe(target.import);
    }
  });

  it('holds no source map without its source, no TypeScript sources, no tests', () => {
    for (const p of paths) {
      if (p.endsWith('.map')) {
        const map = JSON.parse(readFileSync(join(root, p), 'utf8')) as {
          sources: string[];
          sourcesContent?: Array<string | null>;
        };
        const inline = map.sourcesContent?.every((s) => typeof s === 'string') ?? false;
        expect(inline, `${p} points at sources the package does not ship`).toBe(true);
      }
      expect(p.endsWith('.ts') && !p.endsWith('.d.ts'), `TypeScript source ${p}`).toBe(false);
      expect(/(^|\/)test(s)?\//.test(p) || /\.(test|spec|e2e)\.[cm]?js$/.test(p), p).toBe(false);
    }
    expect([...paths].filter((p) => p.endsWith('.map'))).toEqual([]);
  });

  it('ships only the extension host bundle that main names, not the VSIX contents', () => {
    expect([...paths].filter((p) => p.startsWith('dist/extension/'))).toEqual([
      'dist/extension/extension.cjs',
    ]);
    for (const p of paths)
      expect(
        /^(src|extension|bench|examples|scripts|docs|\.vscode|\.ci)\//.test(p) ||
          p.startsWith('dist/bench/') ||
          p.startsWith('dist/examples/'),
        p,
      ).toBe(false);
  });

  it('playwright-core, imported at run time for report PNGs, is an optional peer dependency', () => {
    expect(pkg.peerDependencies['playwright-core']).toBeDefined();
    expect(pkg.peerDependenciesMeta['playwright-core']?.optional).toBe(true);
    // Kept as a devDependency so the repository's own tests render PNGs.
    expect(pkg.devDependencies['playwright-core']).toBeDefined();
  });
});

describe('npx hitloop inside the checkout', () => {
  const cache = makeTempDir('hitloop-npx-cache-');

  it('runs the built CLI without rebuilding the package first (npx runs its prepare)', () => {
    const bundle = join(root, 'dist', 'cli', 'main.js');
    const before = statSync(bundle).mtimeMs;
    // A fresh npm cache is what the first `npx hitloop` after `npm ci` sees:
    // npm links the checkout into its npx cache and runs `prepare` there.
    const r = spawnSync(npm, ['exec', '--yes', '--', 'hitloop', '--version'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, npm_config_cache: cache, npm_config_update_notifier: 'false' },
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version,
    );
    // `npm run build` empties and rewrites dist/cli: the bundle would be new.
    expect(statSync(bundle).mtimeMs).toBe(before);
  }, 120_000);
});
