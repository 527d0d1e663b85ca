import { Command, CommanderError } from 'commander';
import { ConfigError } from '../../shared/errors.js';
import { makeVisible } from '../../shared/util/visible-text.js';
import { packageVersion } from '../version.js';

/** Exit codes the CLI uses; 2 is for anything the user can fix in their input. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Where CLI commands write; injectable so tests can run the CLI in-process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

let stdoutGuarded = false;
const defaultIo: CliIo = {
  stdout: (text) => {
    // Only commands that print through here: the stdio proxy's own transport
    // handles a closed stdout (the client went away) itself.
    if (!stdoutGuarded) {
      stdoutGuarded = true;
      process.stdout.on('error', quietOnClosedPipe);
    }
    process.stdout.write(text);
  },
  stderr: (text) => process.stderr.write(text),
};

/**
 * A reader that stops early (`hitloop telemetry export ... | head`) closes the
 * pipe: end quietly, as other command-line tools do, instead of crashing with
 * an unhandled EPIPE and its stack trace.
 *
 * @example process.stdout.on('error', quietOnClosedPipe);
 */
function quietOnClosedPipe(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
}

type Register = (program: Command, io: CliIo) => void;

/**
 * Each command group, loaded only when it runs. Loading every command's
 * modules (the proxy, the experiment harness, the stores, zod schemas) cost
 * about 0.35 s before anything happened; an MCP client waiting for the
 * proxy's initialize answer, or a person typing `hitloop approve`, pays for
 * only what that command needs. `--help` and unknown commands load them all.
 */
const COMMAND_GROUPS: Array<{ names: readonly string[]; load: () => Promise<Register> }> = [
  {
    names: ['experiment', 'report'],
    load: async () => (await import('./commands/experiment.js')).registerExperimentCommands,
  },
  {
    names: ['sweep'],
    load: async () => (await import('./commands/sweep.js')).registerSweepCommand,
  },
  {
    names: ['policy'],
    load: async () => (await import('./commands/policy-check.js')).registerPolicyCommands,
  },
  {
    names: ['proxy'],
    load: async () => (await import('./commands/proxy.js')).registerProxyCommand,
  },
  {
    names: ['approvals', 'approve', 'reject'],
    load: async () => (await import('./commands/approvals.js')).registerApprovalCommands,
  },
  {
    names: ['serve'],
    load: async () => (await import('./commands/serve.js')).registerServeCommand,
  },
  {
    names: ['telemetry'],
    load: async () => (await import('./commands/telemetry-export.js')).registerTelemetryCommands,
  },
  { names: ['wrap'], load: async () => (await import('./commands/wrap.js')).registerWrapCommands },
];

/**
 * Builds the `hitloop` command tree: only the group `argv` runs when it names
 * one, else (help, a typo) every group, so help lists them all and a typo
 * gets its "did you mean".
 *
 * @example
 * const program = await buildProgram(['approvals']);
 */
export async function buildProgram(
  argv: readonly string[] = [],
  io: CliIo = defaultIo,
): Promise<Command> {
  const program = new Command('hitloop')
    .description('Human-in-the-loop control for AI agents')
    .version(packageVersion(), '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  const first = argv[0];
  const only = COMMAND_GROUPS.find((g) => first !== undefined && g.names.includes(first));
  const versionOnly = first === '-v' || first === '--version';
  const groups = only ? [only] : versionOnly ? [] : COMMAND_GROUPS;
  for (const register of await Promise.all(groups.map((g) => g.load()))) register(program, io);
  for (const sub of program.commands)
    sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  return program;
}

/**
 * Runs the CLI and returns its exit code instead of exiting, so tests can call
 * it in-process. User errors print one clear message and return 2.
 *
 * @example
 * const code = await runCli(['policy', 'check', '--config', 'rules.json', '--tool', 'rm', '--args', '{}']);
 */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const program = await buildProgram(argv, io);
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version "errors" are how commander signals a normal exit.
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.ok;
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    // Messages quote file names, ids and answers from elsewhere: whatever a
    // command missed, no escape sequence reaches the terminal raw.
    if (err instanceof ConfigError) {
      io.stderr(`hitloop: ${makeVisible(err.message)}\n`);
      return EXIT.usage;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`hitloop: ${makeVisible(message)}\n`);
    if (process.env.HITLOOP_DEBUG && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    return EXIT.failure;
  }
}
