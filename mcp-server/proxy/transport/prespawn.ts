import { type ChildProcess, spawn } from 'node:child_process';

/** How a stdio MCP server is started: what the config gives for it. */
export interface StdioCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** A process started ahead of time, with what happened to it before a transport took it. */
export interface EarlyProcess {
  child: ChildProcess;
  /** Set once the OS started it. */
  spawned: boolean;
  /** Set when it could not be started at all (ENOENT, EACCES). */
  error?: Error;
  /** What it wrote to stderr before adoption (the tail), so a crash at start-up is still explained. */
  stderr: string;
  /** Stops collecting stderr; the adopting transport reads it from then on. */
  release(): void;
}

const STDERR_TAIL_BYTES = 4096;

/**
 * A server's stderr as kept for error messages: the last 4 KiB, whoever is
 * reading it (the early start before adoption, then the transport).
 *
 * @example
 * tail = keepStderrTail(tail, chunk.toString('utf8'));
 */
export function keepStderrTail(tail: string, text: string): string {
  return (tail + text).slice(-STDERR_TAIL_BYTES);
}

// Keyed by what runs (command, arguments, environment, folder): the CLI may
// start a server from the raw command line before the config is parsed, and
// the transport later adopts it only if the config asks for exactly that.
const early = new Map<string, EarlyProcess>();
const unclaimed = new Set<ChildProcess>();
// Sent SIGTERM: at exit, what still runs gets SIGKILL (the timer that would
// send it is unreferenced, so the CLI can end first).
const stopping = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * hitloop's own secrets, which an upstream server must never inherit: with
 * the hub or proxy token a server could answer its own approvals, with the
 * webhook secret forge decisions, and the store URL and upstream headers
 * carry credentials.
 */
const SECRET_ENV = /^HITLOOP_(?:HUB_TOKEN|PROXY_TOKEN|WEBHOOK_SECRET|STORE|HEADER_\d+)$/i;

/**
 * The environment a server process gets: hitloop's own minus its secrets
 * (see SECRET_ENV), plus what the config gives the server. A secret the
 * config names for this server explicitly is passed: that is the user's choice.
 *
 * @example
 * serverEnvironment({ PATH: '/bin', HITLOOP_HUB_TOKEN: 't' }, {})
 * // { PATH: '/bin' }
 */
export function serverEnvironment(
  inherited: Readonly<Record<string, string | undefined>>,
  configured: Readonly<Record<string, string>>,
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(inherited))
    if (!SECRET_ENV.test(name)) env[name] = value;
  return Object.assign(env, configured);
}

/**
 * Starts an MCP server's process. The one place the proxy spawns servers, so
 * a server started early and one started on demand get the same environment.
 *
 * @example
 * const child = spawnServer({ command: 'node', args: ['server.js'], env: {} });
 */
export function spawnServer(spec: StdioCommand): ChildProcess {
  return spawn(spec.command, spec.args, {
    env: serverEnvironment(process.env, spec.env),
    cwd: spec.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
  });
}

/**
 * Starts a stdio server's process before the client's `initialize` arrives,
 * so the server boots while the proxy loads its own modules and opens its
 * hub: the client then waits for the slower of the two, not for both in a
 * row. The server sees nothing until the client's initialize (its handshake
 * carries the client's capabilities); its early output waits in the pipe.
 *
 * @example
 * for (const s of config.servers) if (s.type === 'stdio') prespawn(s);
 */
export function prespawn(spec: StdioCommand): void {
  const key = keyOf(spec);
  if (early.has(key)) return;
  const child = spawnServer(spec);
  // Read stderr from the start: a server that fails at once (a typo, a
  // missing package) says why there, and a full pipe would stall it.
  const collect = (chunk: Buffer) => {
    entry.stderr = keepStderrTail(entry.stderr, chunk.toString('utf8'));
  };
  const entry: EarlyProcess = {
    child,
    spawned: false,
    stderr: '',
    release: () => child.stderr?.off('data', collect),
  };
  child.stderr?.on('data', collect);
  child.once('spawn', () => {
    entry.spawned = true;
  });
  // Without a listener an 'error' (ENOENT) would crash the proxy before any
  // transport could report it; it is kept and reported when adopted.
  child.once('error', (err) => {
    entry.error = err;
  });
  child.stdin?.on('error', () => {});
  early.set(key, entry);
  unclaimed.add(child);
  child.once('exit', () => unclaimed.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A server nobody adopted (the client left before initialize) must not outlive the proxy.
    process.once('exit', () => {
      for (const c of unclaimed) c.kill('SIGTERM');
      for (const c of stopping) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
}

/**
 * The process `prespawn` started for this spec, handed over once; undefined
 * when there is none (the transport then spawns its own).
 */
export function adoptPrespawned(spec: StdioCommand): EarlyProcess | undefined {
  if (early.size === 0) return undefined;
  const key = keyOf(spec);
  const entry = early.get(key);
  if (!entry) return undefined;
  early.delete(key);
  unclaimed.delete(entry.child);
  return entry;
}

/** Stops a process started early that no transport will adopt (the session closed first). */
export function discardPrespawned(spec: StdioCommand): void {
  const entry = adoptPrespawned(spec);
  if (entry) stop(entry.child);
}

/**
 * Stops every process started early and not adopted: the command failed
 * (a config error) or ended, and their pipes would otherwise keep the CLI
 * from exiting.
 *
 * @example
 * process.exitCode = await runCli(argv);
 * discardAllPrespawned();
 */
export function discardAllPrespawned(): void {
  for (const child of unclaimed) stop(child);
  unclaimed.clear();
  early.clear();
}

/**
 * The server `hitloop proxy [options] -- COMMAND ARGS` will run in stdio
 * mode, read from the raw arguments before any module that parses them is
 * loaded; undefined for every other form (a config file's servers, a remote
 * upstream, --http, help).
 *
 * @example
 * earlyServerCommand(['proxy', '--name', 'fs', '--', 'node', 'server.js'])
 * // { command: 'node', args: ['server.js'], env: {} }
 */
export function earlyServerCommand(argv: readonly string[]): StdioCommand | undefined {
  if (argv[0] !== 'proxy') return undefined;
  const dash = argv.indexOf('--');
  // An empty command is the CLI's to report (exit 2), not spawn()'s to throw.
  if (dash < 0 || dash + 1 >= argv.length || !argv[dash + 1]) return undefined;
  for (const option of argv.slice(1, dash)) {
    const flag = option.split('=')[0];
    if (flag === '--http' || flag === '--upstream-url' || flag === '--help' || flag === '-h')
      return undefined;
  }
  // What configFromCommand gives the server: the command as typed, hitloop's environment.
  return { command: argv[dash + 1]!, args: argv.slice(dash + 2), env: {} };
}

/**
 * Stops processes started early that the resolved config does not run: a
 * word before `--` that commander took as part of the command, say. They
 * would otherwise run for the whole session, unused.
 *
 * @example
 * discardUnmatched(config.servers.filter((s) => s.type === 'stdio'));
 */
export function discardUnmatched(specs: readonly StdioCommand[]): void {
  const wanted = new Set(specs.map(keyOf));
  for (const [key, entry] of early) {
    if (wanted.has(key)) continue;
    early.delete(key);
    unclaimed.delete(entry.child);
    stop(entry.child);
  }
}

/**
 * Ends a process nobody will use without keeping the CLI alive: its pipes
 * are closed and unreferenced (they would hold Node's event loop open), it
 * gets SIGTERM, then SIGKILL if it ignores that.
 */
function stop(child: ChildProcess): void {
  for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
  child.unref();
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  stopping.add(child);
  child.once('exit', () => stopping.delete(child));
  const hard = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 2000);
  hard.unref();
}

function keyOf(spec: StdioCommand): string {
  return JSON.stringify([spec.command, spec.args, spec.env, spec.cwd ?? null]);
}
