import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromCommand, loadProxyConfig } from '../../mcp-server/proxy/config/load.js';
import { proxyPolicy } from '../../mcp-server/proxy/config/proxy-policy.js';
import { createAction } from '../../shared/models/action.js';
import type { HITLPolicy } from '../../shared/policies/policy.js';
import {
  PROTECTED_PATH_RULE,
  sqliteFiles,
  withProtectedPaths,
} from '../../shared/policies/protect-paths.js';
import { RulesPolicy } from '../../shared/policies/rules.js';
import { tempDir, writeConfig } from '../helpers/proxy-harness.js';

// The built-in protection of hitloop's own files: a call whose arguments
// name a protected path, however spelt, is denied before the user's policy.

const tmp = tempDir('hitloop-protect-');
afterAll(() => tmp.remove());

const userHome = join(tmp.dir, 'user');
const home = join(userHome, '.hitloop');
const hubs = join(home, 'hubs');
const work = join(tmp.dir, 'work');
mkdirSync(hubs, { recursive: true });
mkdirSync(work, { recursive: true });
const hubFile = join(hubs, 'hub-1.json');
writeFileSync(hubFile, '{"token":"secret"}');
writeFileSync(join(work, 'notes.txt'), 'hello');
symlinkSync(hubFile, join(work, 'link-to-hub.json'));
symlinkSync(home, join(work, 'home-link'));
// A link to a file not written yet: writing through it creates the target.
symlinkSync(join(hubs, 'not-yet.json'), join(work, 'dangling.json'));
// `deep/..` is `user/.hitloop` to the operating system, `work` to path.resolve.
symlinkSync(join(home, 'hubs'), join(work, 'deep'));

const allowAll = new RulesPolicy({ default: 'allow' });
const guarded = withProtectedPaths(allowAll, {
  paths: [{ path: home, what: "hitloop's home folder (HITLOOP_HOME)" }],
  homeDir: userHome,
  cwdFor: () => work,
});
const verdict = (policy: HITLPolicy, toolArgs: Record<string, unknown>) =>
  policy.evaluate(createAction({ toolName: 'read_text_file', toolArgs, server: 'fs' }));

describe('withProtectedPaths', () => {
  it('denies a path inside the protected folder, saying it is the built-in rule', async () => {
    const d = await verdict(guarded, { path: hubFile });
    expect(d).toMatchObject({ verdict: 'deny', rule: PROTECTED_PATH_RULE });
    expect(d.reason).toContain("hitloop's built-in protection");
    expect(d.reason).toContain('"path"');
    expect(d.reason).toContain("hitloop's home folder (HITLOOP_HOME)");
  });
  it('asks the wrapped policy about everything else, and keeps its name', async () => {
    expect(await verdict(guarded, { path: join(work, 'notes.txt') })).toMatchObject({
      verdict: 'allow',
      rule: 'default',
    });
    expect(guarded.name).toBe('rules');
  });
  it('sees through spellings: ~, .., relative to the server, file:// URIs, the folder itself', async () => {
    for (const path of [
      '~/.hitloop/hubs/hub-1.json',
      `${work}/../user/.hitloop/hubs/hub-1.json`,
      relative(work, hubFile),
      pathToFileURL(hubFile).href,
      home,
      `${home}/`,
      '~/.hitloop',
    ])
      expect((await verdict(guarded, { path })).verdict, path).toBe('deny');
    // Padding and line breaks that a server's path.resolve() removes again.
    for (const path of [
      `${'/.'.repeat(5000)}${hubFile}`,
      `${hubs}\n/../hub-1.json`,
      `${join(work, 'x'.repeat(300))}/../../user/.hitloop/hubs/hub-1.json`,
    ])
      expect((await verdict(guarded, { path })).verdict, path.slice(-60)).toBe('deny');
    // A long text that merely starts with "/" is not a path to worry about.
    expect((await verdict(guarded, { content: `/${'a/'.repeat(50_000)}` })).verdict).toBe('allow');
    // A folder that only starts with the same letters is not inside.
    expect((await verdict(guarded, { path: `${home}-backup/x` })).verdict).toBe('allow');
  });
  it('follows symlinks: to a file not there yet, dangling ones, and .. after a link as the OS does', async () => {
    expect((await verdict(guarded, { path: join(work, 'link-to-hub.json') })).verdict).toBe('deny');
    expect((await verdict(guarded, { path: 'home-link/hubs/new.json' })).verdict).toBe('deny');
    expect((await verdict(guarded, { path: 'dangling.json' })).verdict).toBe('deny');
    expect((await verdict(guarded, { path: 'deep/../hubs/hub-1.json' })).verdict).toBe('deny');
    const d = await verdict(guarded, { path: join(work, 'home-link', 'approvals.db') });
    expect(d.reason).toContain(`(really ${join(home, 'approvals.db')})`);
  });
  it('checks every path-like argument: paths[], source/destination, nested keys, any absolute string', async () => {
    const cases: Array<Record<string, unknown>> = [
      { paths: [join(work, 'notes.txt'), hubFile] },
      { source: join(work, 'notes.txt'), destination: 'home-link/stolen.json' },
      { options: { file_path: relative(work, hubFile) } },
      { edits: [{ oldText: 'a', newText: 'b' }], target: '../user/.hitloop/x' },
      { anything: hubFile },
      { [hubFile]: 'content keyed by path' },
    ];
    for (const args of cases)
      expect((await verdict(guarded, args)).verdict, JSON.stringify(args)).toBe('deny');
    // A relative string under a key that is not path-like is text, not a path.
    expect((await verdict(guarded, { content: '.hitloop/hubs/hub-1.json' })).verdict).toBe('allow');
  });
  it('walks arguments nested 100,000 deep without exhausting the stack', async () => {
    let args: Record<string, unknown> = { path: hubFile };
    for (let i = 0; i < 100_000; i++) args = { a: args };
    expect((await verdict(guarded, args)).verdict).toBe('deny');
  });
  it('sqliteFiles lists the database and its -wal, -shm and -journal files', () => {
    expect(sqliteFiles('/x/t.db')).toEqual([
      '/x/t.db',
      '/x/t.db-wal',
      '/x/t.db-shm',
      '/x/t.db-journal',
    ]);
  });
});

describe('proxyPolicy: what the proxy protects, from its config', () => {
  const dataDir = join(tmp.dir, 'data');
  const config = (extra: Record<string, unknown>) =>
    loadProxyConfig(
      writeConfig(tmp.dir, {
        mcpServers: { fs: { command: 'node', args: ['server.js'], cwd: work } },
        policy: { type: 'always_approve' },
        telemetry: { db: join(dataDir, 'telemetry.db') },
        approval: { store: join(dataDir, 'approvals.db') },
        ...extra,
      }),
      { env: { HITLOOP_HOME: home }, homeDir: userHome, onWarning: () => {} },
    );
  const policyOf = (extra: Record<string, unknown> = {}) =>
    proxyPolicy(config(extra), { env: { HITLOOP_HOME: home }, homeDir: userHome, cwd: tmp.dir });

  it('protects HITLOOP_HOME, the telemetry and store files, the config and proxy.protectedPaths', async () => {
    const policy = policyOf({ proxy: { protectedPaths: ['secrets/hub-token'] } });
    const denied = [
      hubFile,
      join(dataDir, 'telemetry.db'),
      join(dataDir, 'telemetry.db-wal'),
      join(dataDir, 'approvals.db-shm'),
      join(tmp.dir, 'hitloop.json'),
      join(tmp.dir, 'secrets', 'hub-token'),
    ];
    for (const path of denied) expect((await verdict(policy, { path })).verdict, path).toBe('deny');
    expect((await verdict(policy, { path: join(dataDir, 'other.db') })).verdict).toBe('allow');
    // The server runs in `work` (its cwd), so its relative paths start there.
    expect((await verdict(policy, { path: 'link-to-hub.json' })).verdict).toBe('deny');
    expect((await verdict(policy, { path: 'notes.txt' })).verdict).toBe('allow');
  });
  it('protects the --config and --policy files of a command-line upstream', async () => {
    const settings = writeConfig(
      tmp.dir,
      { approval: { backend: 'auto-reject' } },
      'settings.json',
    );
    const policyFile = writeConfig(tmp.dir, { type: 'always_approve' }, 'policy.json');
    const cmd = configFromCommand(
      { command: 'node', args: ['server.js'], configFile: settings, policyFile },
      { env: { HITLOOP_HOME: home }, homeDir: userHome },
    );
    const policy = proxyPolicy(cmd, { env: { HITLOOP_HOME: home }, homeDir: userHome, cwd: work });
    for (const path of [settings, policyFile, hubFile])
      expect((await verdict(policy, { path })).verdict, path).toBe('deny');
    expect((await verdict(policy, { path: 'notes.txt' })).verdict).toBe('allow');
  });
  it('is on by default and off only with proxy.protectHitloopFiles: false', async () => {
    expect((await verdict(policyOf(), { path: hubFile })).verdict).toBe('deny');
    const off = policyOf({ proxy: { protectHitloopFiles: false } });
    expect((await verdict(off, { path: hubFile })).verdict).toBe('allow');
  });
});
