// esbuild plugins shared by the extension's bundles (build-extension.mjs) and
// the proxy CLI the VSIX carries (package-extension.mjs).
import { dirname, join } from 'node:path';

/**
 * zod re-exports all of its ~50 message locales (over 250 KB minified);
 * hitloop's messages are English, which zod registers itself.
 *
 * @example
 * await esbuild.build({ ..., plugins: [englishOnly] });
 */
export const englishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: join(dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      loader: 'js',
      resolveDir: dirname(args.path),
    }));
  },
};
