import { spawn } from 'node:child_process';
import { type BenchRow, median } from './format.js';

// Start-up as an MCP client sees it: from spawning the command in its config
// to the initialize answer, and to the tool list. Claude Code -p and Codex
// send their first model request while servers are still starting, and use
// whatever tools are listed by then, so this is the figure that decides
// whether a proxied server's tools are there when the model asks.

/** One way of starting a server: the command an MCP client would run. */
export interface StartCommand {
  name: string;
  command: string;
  args: string[];
}

interface Timing {
  initializeMs: number;
  toolsMs: number;
  tools: number;
}

/** Spawns `target`, sends initialize then tools/list the way the SDK client does, and times both answers. */
function timeOnce(target: StartCommand, env: NodeJS.ProcessEnv): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(target.command, target.args, { env, stdio: ['pipe', 'pipe', 'ignore'] });
    let buffer = '';
    let initializeMs = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${target.name} did not list its tools within 30 s`));
    }, 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        const message = JSON.parse(line) as { id?: number; result?: { tools?: unknown[] } };
        if (message.id === 1) {
          initializeMs = performance.now() - started;
          child.stdin.write(
            `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`,
          );
          child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' })}\n`);
        } else if (message.id === 2) {
          const toolsMs = performance.now() - started;
          clearTimeout(timer);
          child.stdin.end();
          child.once('exit', () =>
            resolve({ initializeMs, toolsMs, tools: message.result?.tools?.length ?? 0 }),
          );
        }
      }
    });
    // Clients write initialize at once; it waits in the pipe until read.
    child.stdin.write(
      `${JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'bench-startup', version: '1.0.0' },
        },
      })}\n`,
    );
  });
}

/**
 * Medians over `rounds` interleaved rounds (each target once per round, so
 * a busy moment of the machine hits all alike), the first target being the
 * baseline the others are compared with.
 *
 * @example
 * const rows = await measureStartup([bare, proxied], 7, env);
 */
export async function measureStartup(
  targets: readonly StartCommand[],
  rounds: number,
  env: NodeJS.ProcessEnv,
): Promise<BenchRow[]> {
  const results = targets.map(() => [] as Timing[]);
  for (let r = 0; r < rounds + 1; r++) {
    for (const [i, target] of targets.entries()) {
      const timing = await timeOnce(target, env);
      // Round 0 warms the file cache (and npm's, for npx commands); not counted.
      if (r > 0) results[i]!.push(timing);
    }
  }
  const [base, ...others] = targets;
  const baseInit = median(results[0]!.map((t) => t.initializeMs));
  const baseTools = median(results[0]!.map((t) => t.toolsMs));
  const rows: BenchRow[] = [];
  others.forEach((target, k) => {
    const timings = results[k + 1]!;
    const init = median(timings.map((t) => t.initializeMs));
    const tools = median(timings.map((t) => t.toolsMs));
    rows.push(
      {
        name: `spawn -> initialize answered, ${target.name}`,
        value: Math.round(init),
        unit: 'ms',
        baseline: { name: base!.name, value: Math.round(baseInit) },
        target: `<= ${base!.name} + 300 ms`,
        pass: init <= baseInit + 300,
      },
      {
        name: `spawn -> tools listed (${timings[0]!.tools}), ${target.name}`,
        value: Math.round(tools),
        unit: 'ms',
        baseline: { name: base!.name, value: Math.round(baseTools) },
        target: `<= ${base!.name} + 300 ms`,
        pass: tools <= baseTools + 300,
      },
    );
  });
  return rows;
}
