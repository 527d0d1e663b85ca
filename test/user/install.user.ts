import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import {
  CODEX,
  CODEX_SERVER_SETTINGS,
  CODEX_VERSION,
  cleanEnv,
  codexConfigToml,
  freePort,
  freshDir,
  ROOT,
  run,
  ScriptedResponsesModel,
  SHARED_NPM_CACHE,
  start,
  startCodex,
  tomlString,
  waitFor,
  writeCodexConfig,
} from './harness.js';

// hitloop as a user gets it: the tarball `npm pack` makes, installed
// globally into an empty prefix and as a dependency of an empty project.

const prefix = inject('prefix');
const projectDir = inject('projectDir');
const userRoot = inject('userRoot');
const version = inject('version');
const HITLOOP = join(prefix, 'bin/hitloop');

/** A folder with nothing of hitloop's in or above it, and an empty HOME. */
function unrelated(): { cwd: string; env: NodeJS.ProcessEnv } {
  const cwd = freshDir(userRoot, 'unrelated');
  return { cwd, env: cleanEnv({ HOME: freshDir(userRoot, 'home') }) };
}

/** Runs `source` as an ES module (or CommonJS) file inside the empty project. */
async function inProject(name: string, source: string) {
  const file = join(projectDir, name);
  writeFileSync(file, source);
  return run('node', [file], { cwd: projectDir, env: cleanEnv({ HOME: projectDir }) });
}

describe('hitloop installed globally from the tarball', () => {
  it('`hitloop --version` works from an unrelated folder with an empty HOME', async () => {
    const r = await run(HITLOOP, ['--version'], unrelated());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('`hitloop --help` lists the commands the README names', async () => {
    const r = await run(HITLOOP, ['--help'], unrelated());
    expect(r.code, r.stderr).toBe(0);
    for (const command of ['proxy', 'serve', 'wrap', 'approvals', 'approve', 'reject'])
      expect(r.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
  });
});

describe("the README's command, installed, from an unrelated folder", () => {
  it('`hitloop proxy --http … --approval cli -- npx -y …server-filesystem DIR`: Codex connects over HTTP, `a` in the terminal approves', async () => {
    // The command as the README says it at test time ("The two commands").
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const said = /`(hitloop proxy --http [^`]+)`/.exec(readme)?.[1];
    expect(
      said,
      'README.md shows no `hitloop proxy --http ...` command for an installed CLI',
    ).toBeDefined();
    const words = said!.split(/\s+/);
    expect(words.slice(0, 3)).toEqual(['hitloop', 'proxy', '--http']);
    expect(words).toContain('--approval');
    // Only the port (any free one) and the folder it serves change.
    const port = await freePort();
    const served = freshDir(userRoot, 'readme-served');
    const argv = words.map((w, i) =>
      i === 3
        ? w.replace(/:\d+$/, `:${port}`)
        : i === words.length - 1 && w === '/tmp'
          ? served
          : w,
    );
    expect(argv[3]).toBe(`127.0.0.1:${port}`);
    expect(argv.at(-1)).toBe(served);

    const { cwd, env } = unrelated();
    env.PATH = `${join(prefix, 'bin')}:${env.PATH ?? ''}`;
    env.HITLOOP_HOME = join(cwd, 'hitloop-home');
    // `npx -y` fetches the server from the registry; the shared cache makes that quick.
    env.npm_config_cache = SHARED_NPM_CACHE;
    const proxy = start(argv[0]!, argv.slice(1), { cwd, env, keepStdin: true, timeoutMs: 110_000 });
    try {
      await waitFor(
        'the proxy to listen',
        async () => {
          try {
            return (await fetch(`http://127.0.0.1:${port}/mcp`)).status;
          } catch {
            return undefined;
          }
        },
        {
          timeoutMs: 60_000,
          stopIf: () =>
            proxy.child.exitCode !== null ? `the proxy exited:\n${proxy.output()}` : undefined,
        },
      );

      // Without a token in the README's command, the proxy makes one and
      // prints the URL that carries it.
      const printedUrl = await waitFor(
        'the URL with its token',
        () => /serving MCP over Streamable HTTP at (http:\/\/\S+)/.exec(proxy.output())?.[1],
        { timeoutMs: 10_000 },
      );
      expect(printedUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/mcp\\?token=`));

      // Any MCP client: here Codex over Streamable HTTP.
      if (!existsSync(CODEX))
        throw new Error(`Codex ${CODEX_VERSION} is missing: run scripts/install-agent-clis.sh`);
      const model = new ScriptedResponsesModel([
        {
          tool: {
            server: 'hitloop',
            name: 'write_file',
            args: { path: join(served, 'from-readme.txt'), content: 'approved at the terminal' },
          },
        },
        { text: 'finished' },
      ]);
      await model.listen();
      try {
        const home = freshDir(userRoot, 'home');
        const toml = codexConfigToml(model.baseUrl, {}).concat(
          [
            '',
            '[mcp_servers.hitloop]',
            // The URL the proxy printed: it carries the token made at start.
            `url = ${tomlString(printedUrl)}`,
            ...CODEX_SERVER_SETTINGS,
            '',
          ].join('\n'),
        );
        writeCodexConfig(home, toml);
        mkdirSync(join(home, 'work'), { recursive: true });
        const codex = startCodex({ home, cwd: join(home, 'work'), prompt: 'Write the file.' });
        try {
          // The terminal shows the call and asks; answer as a person would.
          await waitFor(
            'the approval prompt in the terminal',
            () => (proxy.output().includes('[a]pprove') ? true : undefined),
            { timeoutMs: 60_000 },
          );
          expect(proxy.output()).toContain('write_file');
          proxy.child.stdin?.write('a\n');
          const result = await codex.exited;
          expect(result.code, codex.output()).toBe(0);
        } finally {
          codex.kill();
        }
        expect(model.problems).toEqual([]);
        expect(readFileSync(join(served, 'from-readme.txt'), 'utf8')).toBe(
          'approved at the terminal',
        );
        expect(model.toolOutputs().join('\n')).toContain('Successfully wrote to');
      } finally {
        await model.close();
      }
    } finally {
      proxy.kill();
      await proxy.exited;
    }
  });
});

describe('hitloop as a dependency of an empty project', () => {
  it("import('hitloop'): the README's library example runs, telemetry lands in SQLite", async () => {
    const r = await inProject(
      'library.mjs',
      `import { AutoRejectBackend, createAction, gateAction, notExecutedMessage, RiskBasedPolicy, TelemetryLogger } from 'hitloop';
const action = createAction({ toolName: 'wire_transfer', toolArgs: { amount: 5000 }, riskClass: 'high' });
const policy = new RiskBasedPolicy({ highRiskTools: ['wire_transfer'] });
const logger = new TelemetryLogger({ dbPath: 'telemetry.db' });
const runId = logger.startRun({ condition: policy.name });
const outcome = await gateAction(action, { policy, backend: new AutoRejectBackend(), runId, logger });
logger.close();
console.log(JSON.stringify({ verdict: policy.evaluate(action).verdict, kind: outcome.kind, text: notExecutedMessage(outcome) }));
`,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { verdict: string; kind: string; text: string };
    expect(out.verdict).toBe('ask');
    expect(out.kind).toBe('rejected');
    expect(out.text).toContain("Tool 'wire_transfer' was NOT executed");
    // better-sqlite3 (native, built or fetched at install) wrote the file.
    const header = readFileSync(join(projectDir, 'telemetry.db'))
      .subarray(0, 15)
      .toString('latin1');
    expect(header).toBe('SQLite format 3');
  });

  it("require('hitloop') works from CommonJS (Node >= 20.19's require(esm))", async () => {
    const r = await inProject(
      'library.cjs',
      `const hitloop = require('hitloop');
console.log(typeof hitloop.createAction, typeof hitloop.RulesPolicy);
`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function function');
  });

  it("import('hitloop/langgraph') without the @langchain peers fails naming the missing package", async () => {
    const r = await inProject(
      'langgraph-missing.mjs',
      `try {
  await import('hitloop/langgraph');
  console.log('loaded');
} catch (err) {
  console.log(JSON.stringify({ code: err.code, message: err.message }));
}
`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).not.toBe('loaded');
    const err = JSON.parse(r.stdout) as { code: string; message: string };
    // Only a missing peer, nothing else broken.
    expect(err.code).toBe('ERR_MODULE_NOT_FOUND');
    expect(err.message).toMatch(/'@langchain\/(core|langgraph)'/);
  });

  it("with the peers installed, import('hitloop/langgraph') loads withApproval", async () => {
    // The versions the checkout develops against (already in npm's cache).
    const peers = ['@langchain/core', '@langchain/langgraph'].map((name) => {
      const pkg = JSON.parse(
        readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { version: string };
      return `${name}@${pkg.version}`;
    });
    const env = cleanEnv({ HOME: projectDir });
    env.npm_config_cache = SHARED_NPM_CACHE;
    const install = await run('npm', ['install', '--no-audit', '--no-fund', ...peers], {
      cwd: projectDir,
      env,
      timeoutMs: 180_000,
    });
    expect(install.code, install.stderr).toBe(0);
    // Removed again after the check, so a rerun on the same project
    // (HITLOOP_USER_ROOT) still tests the missing-peer case.
    onTestFinished(async () => {
      await run(
        'npm',
        ['uninstall', '--no-audit', '--no-fund', ...peers.map((p) => p.replace(/@[^@]+$/, ''))],
        {
          cwd: projectDir,
          env,
          timeoutMs: 120_000,
        },
      );
    });
    const r = await inProject(
      'langgraph.mjs',
      `const lg = await import('hitloop/langgraph');
console.log(typeof lg.withApproval, typeof lg.createHitlGateNode);
`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function function');
  }, 200_000);
});
