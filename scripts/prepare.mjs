// The package's `prepare` script: builds dist/ (npm ci, npm install, npm pack),
// except when `npx hitloop` runs inside this checkout and dist/ is built.
//
// Why: npm 11's `npx hitloop` in a project whose own package.json has a
// `hitloop` bin does not look at node_modules/.bin first: it links the
// project into its npx cache (~/.npm/_npx/<hash>) and runs the project's
// `prepare` on the way, i.e. a full `npm run build` of 15-25 s with no output,
// on the first `npx hitloop` after every `npm ci` (libnpmexec: "we have to
// install the local package into the npx cache so that its bin links get set
// up"). The link points at this checkout, so npx then runs what dist/ holds
// now; rebuilding there adds nothing but the wait. `npm run build` is how to
// rebuild; a checkout without dist/ (npm ci --ignore-scripts) still builds.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = existsSync(join(root, 'dist', 'cli', 'main.js'));
if (process.env.npm_command === 'exec' && built) process.exit(0);

// npm sets npm_execpath to its own CLI script: run the build with the same npm.
const npmCli = process.env.npm_execpath;
const r = npmCli
  ? spawnSync(process.execPath, [npmCli, 'run', 'build'], { cwd: root, stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], {
      cwd: root,
      stdio: 'inherit',
      shell: process.platform === 'win32',
    });
if (r.error) {
  console.error(`hitloop prepare: could not run npm run build: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
