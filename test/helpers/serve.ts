import { type ChildProcess, spawn } from 'node:child_process';
import { HubClient } from '../../shared/hub/hub-client.js';
import { OutputLog, PROXY_ENTRY } from './proxy-harness.js';

// Runs the real `hitloop serve` (the built CLI) and reads its URL and token
// from what it prints, as a person would.

export interface Serve {
  url: string;
  token: string;
  client: HubClient;
  stdout: OutputLog;
  stop(): Promise<void>;
}

/** Starts `hitloop serve --store STORE` on a free loopback port. */
export async function startServe(
  store: string,
  home: string,
  env: Record<string, string> = {},
  extraArgs: string[] = [],
): Promise<Serve> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      PROXY_ENTRY,
      'serve',
      '--store',
      store,
      '--listen',
      '127.0.0.1:0',
      '--name',
      'team hub',
      ...extraArgs,
    ],
    { env: { ...process.env, HITLOOP_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stdout = new OutputLog();
  const stderr = new OutputLog();
  stdout.attach(child.stdout);
  stderr.attach(child.stderr);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const m = await Promise.race([
    stdout.waitFor(/approval page: (http:\/\/[^/\s]+)\/#token=(\S+)/, 20_000),
    exited.then(() => {
      throw new Error(`hitloop serve exited:\n${stderr.text}`);
    }),
  ]);
  const url = m[1]!;
  const token = m[2]!;
  return {
    url,
    token,
    client: new HubClient({ url, token }),
    stdout,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
