// Packages the VS Code extension into hitloop.vsix at the repository root.
//
// The root package.json is one package for npm (its "files" list ships the
// library and CLI) and for VS Code (its "main" and "contributes"). vsce
// refuses a "files" list next to a .vscodeignore, and the VSIX must hold only
// the bundled extension, so packaging happens in a staging folder holding the
// manifest (without the npm-only fields), the bundles, the media, the
// extension README and .vscodeignore. Run `npm run build:extension` first
// (`npm run package` does).
//
// The VSIX also carries the proxy: the CLI bundled again from its TypeScript
// sources, minified, into dist/cli/ (two levels below the manifest, as in the
// npm package, so the paths it builds from import.meta.url resolve), and the
// hub's phone page (dist/hub-page/). The extension starts it with VS Code's
// own runtime, so a user needs nothing but the VSIX. It loads no native
// module: SQLite is node:sqlite there (see shared/sqlite).
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCli } from './bundle-cli.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --out FILE: where to write it (tests package into a temporary folder).
const outAt = process.argv.indexOf('--out');
const output =
  outAt > 0 && process.argv[outAt + 1]
    ? resolve(process.argv[outAt + 1])
    : join(root, 'hitloop.vsix');
const bundle = join(root, 'dist', 'extension', 'extension.cjs');
if (!existsSync(bundle)) {
  console.error(
    'dist/extension is missing: run `npm run build:extension` first (or `npm run package`)',
  );
  process.exit(1);
}

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const npmOnly of [
  'files',
  'scripts',
  'dependencies',
  'devDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'allowScripts',
  'bin',
  'exports',
  'types',
]) {
  delete manifest[npmOnly];
}

const stage = mkdtempSync(join(tmpdir(), 'hitloop-vsix-'));
try {
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  cpSync(join(root, 'dist', 'extension'), join(stage, 'dist', 'extension'), { recursive: true });
  cpSync(join(root, 'dist', 'hub-page'), join(stage, 'dist', 'hub-page'), { recursive: true });
  await bundleCli({
    entry: join(root, 'mcp-server', 'cli', 'main.ts'),
    outdir: join(stage, 'dist', 'cli'),
    minify: true,
    englishOnly: true,
  });
  cpSync(join(root, 'extension', 'media'), join(stage, 'extension', 'media'), { recursive: true });
  cpSync(join(root, 'extension', 'README.md'), join(stage, 'README.md'));
  cpSync(join(root, '.vscodeignore'), join(stage, '.vscodeignore'));
  for (const name of ['LICENSE', 'LICENSE.md', 'CHANGELOG.md']) {
    if (existsSync(join(root, name))) cpSync(join(root, name), join(stage, name));
  }
  const vsce = join(
    dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')),
    'vsce',
  );
  const args = [vsce, 'package', '--no-dependencies', '--out', output];
  if (!existsSync(join(stage, 'LICENSE')) && !existsSync(join(stage, 'LICENSE.md')))
    args.push('--skip-license');
  execFileSync(process.execPath, args, { cwd: stage, stdio: 'inherit' });
} finally {
  rmSync(stage, { recursive: true, force: true });
}
const kb = (statSync(output).size / 1024).toFixed(1);
console.log(`${output}: ${kb} KB`);
