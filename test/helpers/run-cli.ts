import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the built CLI; `npm test` builds before running the suite. */
export const CLI = fileURLToPath(new URL('../../dist/mcp-server/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `hitloop` CLI as a separate process, as a user would. */
export function runHitloop(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    input: options.input,
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs the built CLI without blocking, so two runs can overlap as separate
 * processes (e.g. two experiments writing at once).
 *
 * @example
 * const [a, b] = await Promise.all([runHitloopAsync(argsA), runHitloopAsync(argsB)]);
 */
export function runHitloopAsync(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
