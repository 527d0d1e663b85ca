import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { cleanEnv, log, ROOT, SHARED_NPM_CACHE } from './harness.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The temp folder holding everything below; removed after the run. */
    userRoot: string;
    /** The packed tarball (`npm pack` of the checkout). */
    tarball: string;
    /** `npm install -g --prefix` target: the installed CLI is `${prefix}/bin/hitloop`. */
    prefix: string;
    /** An empty project (`npm init -y`) with the tarball installed as a dependency. */
    projectDir: string;
    /** The version in the checkout's package.json (what --version must print). */
    version: string;
  }
}

/**
 * Runs once before the user's-side suite: packs the checkout and installs the
 * tarball the way a user would, globally into an empty prefix with an empty
 * HOME, and as a dependency of an empty project. Everything after this uses
 * only those installed copies, never the checkout's dist/.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const t0 = Date.now();
  const cli = join(ROOT, 'dist/cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const version = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;

  // HITLOOP_USER_ROOT: reuse the installs of an earlier run kept with
  // HITLOOP_USER_KEEP=1 (for working on the tests; CI always installs).
  const reuse = process.env.HITLOOP_USER_ROOT;
  if (reuse) {
    const packDir = join(reuse, 'pack');
    const tarball = existsSync(packDir)
      ? readdirSync(packDir).find((f) => f.endsWith('.tgz'))
      : undefined;
    if (!tarball || !existsSync(join(reuse, 'prefix/bin/hitloop')))
      throw new Error(`HITLOOP_USER_ROOT=${reuse} holds no finished install`);
    log(`reusing the installs in ${reuse} (HITLOOP_USER_ROOT)`);
    project.provide('userRoot', reuse);
    project.provide('tarball', join(reuse, 'pack', tarball));
    project.provide('prefix', join(reuse, 'prefix'));
    project.provide('projectDir', join(reuse, 'project'));
    project.provide('version', version);
    return () => {};
  }

  const userRoot = mkdtempSync(join(tmpdir(), 'hitloop-user-'));
  log(`working in ${userRoot}`);
  const remove = () => {
    if (process.env.HITLOOP_USER_KEEP === '1') {
      log(`kept ${userRoot} (HITLOOP_USER_KEEP=1)`);
      return;
    }
    rmSync(userRoot, { recursive: true, force: true });
  };
  let installed: { tarball: string; prefix: string; projectDir: string };
  try {
    installed = await packAndInstall(userRoot, t0, version);
  } catch (err) {
    // No teardown runs after a failed setup.
    remove();
    throw err;
  }

  project.provide('userRoot', userRoot);
  project.provide('tarball', installed.tarball);
  project.provide('prefix', installed.prefix);
  project.provide('projectDir', installed.projectDir);
  project.provide('version', version);
  return remove;
}

async function packAndInstall(
  userRoot: string,
  t0: number,
  version: string,
): Promise<{ tarball: string; prefix: string; projectDir: string }> {
  const packDir = join(userRoot, 'pack');
  mkdirSync(packDir);
  // --ignore-scripts: `npm run test:user` has just built dist/; `prepare`
  // would build it a second time.
  log('npm pack');
  await npm(['pack', '--ignore-scripts', '--pack-destination', packDir], ROOT, process.env);
  const tgz = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack wrote no .tgz into ${packDir}`);
  const tarball = join(packDir, tgz);

  const prefix = join(userRoot, 'prefix');
  const projectDir = join(userRoot, 'project');
  for (const dir of [
    prefix,
    projectDir,
    join(userRoot, 'home-global'),
    join(userRoot, 'home-project'),
  ])
    mkdirSync(dir);

  // The two installs each build better-sqlite3 when no prebuilt binary can be
  // fetched; in parallel they use both cores.
  log(
    `npm install -g --prefix ${prefix} ${tgz} (empty HOME), and npm install ${tgz} in an empty project`,
  );
  await Promise.all([
    npm(
      ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball],
      userRoot,
      installEnv(join(userRoot, 'home-global')),
    ).then(() => log(`global install done (${secondsSince(t0)} s)`)),
    (async () => {
      const env = installEnv(join(userRoot, 'home-project'));
      await npm(['init', '-y'], projectDir, env);
      await npm(['install', '--no-audit', '--no-fund', tarball], projectDir, env);
      log(`project install done (${secondsSince(t0)} s)`);
    })(),
  ]);
  const bin = join(prefix, 'bin/hitloop');
  if (!existsSync(bin)) throw new Error(`the global install has no ${bin}`);
  log(`installed hitloop ${version} in ${secondsSince(t0)} s`);

  return { tarball, prefix, projectDir };
}

function secondsSince(t0: number): number {
  return Math.round((Date.now() - t0) / 1000);
}

/**
 * A user's environment for npm: an empty HOME, no npm_* variables inherited
 * from `npm run`, but the machine's shared npm cache (saves minutes; the
 * cache holds registry data only, never configuration).
 */
function installEnv(home: string): NodeJS.ProcessEnv {
  const env = cleanEnv({ HOME: home });
  env.npm_config_cache = SHARED_NPM_CACHE;
  // node-gyp downloads Node's headers from nodejs.org to build better-sqlite3
  // when no prebuilt binary can be fetched; this machine reaches only the npm
  // registry, and Debian's nodejs ships the headers in /usr/include/node. (The
  // machine's ~/.npmrc says nodedir=/usr too, but an empty HOME hides it.)
  const nodedir =
    process.env.npm_config_nodedir || (existsSync('/usr/include/node/node.h') ? '/usr' : undefined);
  if (nodedir) env.npm_config_nodedir = nodedir;
  return env;
}

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `npm ${args.join(' ')} (in ${cwd}) exited with ${code}:\n${output.slice(-4000)}`,
          ),
        );
    });
  });
}
