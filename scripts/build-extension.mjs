// Bundles the VS Code extension with esbuild:
//   extension host  extension/src/extension.ts -> dist/extension/extension.cjs (Node, CommonJS)
//   webview         extension/webview/main.ts  -> dist/extension/webview.js    (browser)
//   approval page   extension/webview/hub-page/hub-page.ts -> dist/hub-page/hub-page.js (browser;
//                   the hub serves it with index.html and hub-page.css at `/` for phones)
// and copies the webview's CSS and the codicon font beside them. Fails if a
// bundle would load a native module: the extension runs in VS Code's
// Electron, where modules built for the system Node do not load.
//
//   node scripts/build-extension.mjs            # once, minified (what the VSIX ships)
//   node scripts/build-extension.mjs --dev      # once, readable, inline source maps (F5)
//   node scripts/build-extension.mjs --watch    # --dev, rebuilt on save
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { englishOnly } from './esbuild-plugins.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'extension');
const watch = process.argv.includes('--watch');
const dev = watch || process.argv.includes('--dev');

// The webview imports the message protocol, whose zod models reach
// node:crypto (ids for new actions, never made in the webview). Point the
// import at the browser's Web Crypto.
const CRYPTO_SHIM = `
const web = globalThis.crypto;
export function randomFillSync(buffer) {
  const bytes = new Uint8Array(buffer.buffer ?? buffer, buffer.byteOffset ?? 0, buffer.byteLength);
  for (let i = 0; i < bytes.length; i += 65536) web.getRandomValues(bytes.subarray(i, i + 65536));
  return buffer;
}
export const randomBytes = (n) => randomFillSync(new Uint8Array(n));
export const randomUUID = () => web.randomUUID();
export function createHash() {
  throw new Error('node:crypto hashing is not available in the webview');
}
`;
const browserShims = {
  name: 'browser-shims',
  setup(build) {
    build.onResolve({ filter: /^node:crypto$/ }, () => ({
      path: 'node:crypto',
      namespace: 'shim',
    }));
    build.onLoad({ filter: /.*/, namespace: 'shim' }, () => ({
      contents: CRYPTO_SHIM,
      loader: 'js',
    }));
  },
};

// A native module in the bundle would crash activation in Electron.
const NATIVE = /better-sqlite3|\.node["']|node-gyp-build|bindings\(/;
const noNative = {
  name: 'no-native-modules',
  setup(build) {
    if (watch) build.onStart(() => console.log('[watch] build started'));
    build.onEnd((result) => {
      if (watch) console.log('[watch] build finished');
      if (result.errors.length) return;
      for (const file of Object.keys(result.metafile?.outputs ?? {})) {
        if (!file.endsWith('.js') && !file.endsWith('.cjs')) continue;
        const text = readFileSync(join(root, file), 'utf8');
        const hit = NATIVE.exec(text);
        if (hit) {
          result.errors.push({
            text: `${file} would load a native module (${hit[0]}); the extension must stay pure JavaScript`,
          });
        }
      }
      const inputs = Object.keys(result.metafile?.inputs ?? {});
      const bad = inputs.find((i) => /better-sqlite3|node_modules\/.*\.node$/.test(i));
      if (bad) result.errors.push({ text: `bundle includes ${bad}, a native module` });
    });
  },
};

const common = {
  bundle: true,
  metafile: true,
  sourcemap: dev ? 'inline' : false,
  minify: !dev,
  legalComments: 'none',
  logLevel: 'info',
  absWorkingDir: root,
};

const host = {
  ...common,
  entryPoints: ['extension/src/extension.ts'],
  outfile: 'dist/extension/extension.cjs',
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  // Current VS Code's extension host (seen in 1.139) logs a PendingMigrationError
  // for every read of the global `navigator`; zod reads it once to detect
  // Cloudflare Workers. The host bundle never runs in a browser: no navigator.
  define: { navigator: 'undefined' },
  // mcp-server/wrap's launcherFor('node') reads import.meta.url; the extension
  // never calls it, and in CommonJS there is no import.meta.
  logOverride: { 'empty-import-meta': 'silent' },
  plugins: [englishOnly, noNative],
};

const webview = {
  ...common,
  entryPoints: ['extension/webview/main.ts'],
  outfile: 'dist/extension/webview.js',
  platform: 'browser',
  format: 'iife',
  target: 'es2022',
  plugins: [browserShims, englishOnly, noNative],
};

// The hub's approval page: the same card as the sidebar (extension/webview/card.ts),
// with no VS Code around it. It reads hub responses with zod/mini, not the
// protocol's classic zod (about 190 KB on its own), to stay small on a phone.
const hubPageOut = join(root, 'dist', 'hub-page');
const hubPage = {
  ...common,
  entryPoints: ['extension/webview/hub-page/hub-page.ts'],
  outfile: 'dist/hub-page/hub-page.js',
  platform: 'browser',
  format: 'iife',
  target: 'es2022',
  plugins: [browserShims, englishOnly, noNative],
};

function copyAssets() {
  // main.css first, so the card is styled as in the sidebar; hub-page.css
  // then supplies the theme variables VS Code would and the phone layout.
  mkdirSync(hubPageOut, { recursive: true });
  copyFileSync(join(root, 'extension/webview/hub-page/index.html'), join(hubPageOut, 'index.html'));
  writeFileSync(
    join(hubPageOut, 'hub-page.css'),
    `${readFileSync(join(root, 'extension/webview/main.css'), 'utf8')}\n${readFileSync(join(root, 'extension/webview/hub-page/hub-page.css'), 'utf8')}`,
  );
  mkdirSync(join(out, 'codicons'), { recursive: true });
  copyFileSync(join(root, 'extension/webview/main.css'), join(out, 'webview.css'));
  const codicons = join(root, 'node_modules/@vscode/codicons/dist');
  copyFileSync(join(codicons, 'codicon.css'), join(out, 'codicons/codicon.css'));
  copyFileSync(join(codicons, 'codicon.ttf'), join(out, 'codicons/codicon.ttf'));
}

mkdirSync(out, { recursive: true });
copyAssets();
if (watch) {
  const contexts = await Promise.all([
    esbuild.context(host),
    esbuild.context(webview),
    esbuild.context(hubPage),
  ]);
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('watching extension/ (Ctrl+C to stop); CSS changes need a rerun');
} else {
  await Promise.all([esbuild.build(host), esbuild.build(webview), esbuild.build(hubPage)]);
}
