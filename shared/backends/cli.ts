import { userInfo } from 'node:os';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import {
  findHiddenCharacters,
  findHiddenInValue,
  formatArgsForDisplay,
  makeVisible,
  summarizeHiddenCharacters,
} from '../util/visible-text.js';
import { type ApprovalBackend, type ApprovalOptions, abortError } from './backend.js';

/** Options for {@link CLIBackend}. */
export interface CLIBackendOptions {
  /** Where answers are read from. Default `process.stdin`. */
  input?: Readable;
  /**
   * Where the prompt is written. Default `process.stderr`: a stdio MCP proxy
   * (or any program piping its results) owns stdout, and a prompt written
   * there would corrupt the protocol; a person at a terminal sees stderr just
   * the same.
   */
  output?: Writable;
  /** How long a request waits for an answer. Default 10 minutes. */
  timeoutMs?: number;
  /** Who answers, recorded as `cli:<user>`. Default: the OS user name. */
  user?: string;
  /** Validates edited arguments when the request's options do not. */
  validateArgs?: (args: Record<string, unknown>) => string[];
  /**
   * Use readline's terminal mode (line editing, its own echo). Default: when
   * both input and output are TTYs. Plain pipes are read line by line.
   */
  terminal?: boolean;
}

/** Ten minutes: long enough to read a diff, short enough that a forgotten prompt fails closed. */
export const CLI_DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
// setTimeout overflows above this and fires at once; treat longer as "no timeout".
const MAX_TIMER_MS = 2 ** 31 - 1;

const MAIN_PROMPT = 'Decision? [a]pprove / [r]eject / [e]dit / [?] help: ';

interface Outcome {
  approved: boolean;
  reason: string;
  editedArgs?: Record<string, unknown>;
}

interface Job {
  readonly request: ApprovalRequest;
  readonly options: ApprovalOptions;
  readonly timeoutMs: number;
  readonly enqueuedAt: number;
  shownAt: number | undefined;
  settled: boolean;
  /** Aborted when the job settles, which stops its dialogue mid-question. */
  readonly stop: AbortController;
  resolve(decision: Decision): void;
  reject(error: Error): void;
  cleanup(): void;
}

/** The input ended while a question was waiting for an answer. */
class InputClosedError extends Error {}
/** The job settled (timeout, abort, close) while its dialogue was waiting. */
class StoppedError extends Error {}

/**
 * Asks a person at a terminal to approve, edit or reject each tool call.
 *
 * Shows everything needed to judge the call (tool, server, risk, policy,
 * rationale, run, expiry, the full arguments with hidden characters made
 * visible, the arguments hash) and reads one answer:
 *
 * - `a` / `approve` / `y`: run the call as shown;
 * - `r` / `reject` / `n`: do not run it; then asks for an optional reason;
 * - `e` / `edit`: type replacement arguments as JSON (one line, or several
 *   lines ended by an empty line); they must be a JSON object and pass
 *   `validateArgs`; the decision approves the edited arguments;
 * - `?` / `help`.
 *
 * Requests are shown one at a time, in call order. A request nobody answers in
 * time is rejected as `cli:timeout`; if the input closes, pending requests are
 * rejected as `cli:unavailable` (fail closed). Neither is reported as a human
 * rejection.
 *
 * On a TTY, lines typed before a request's prompt appeared are discarded, so a
 * stray `a⏎` typed ahead can never approve a call its author has not seen.
 * Piped input is consumed in order (it is a script, not a person).
 *
 * @example
 * const backend = new CLIBackend({ timeoutMs: 120_000 });
 * const decision = await backend.requestApproval(request, { validateArgs });
 * if (decision.approved) run(decision.editedArgs ?? request.action.toolArgs);
 * await backend.close();
 *
 * @example
 * // Inside a stdio MCP proxy stdin/stdout carry the protocol, so talk to the
 * // terminal directly.
 * import { openSync } from 'node:fs';
 * import { ReadStream, WriteStream } from 'node:tty';
 * const backend = new CLIBackend({
 *   input: new ReadStream(openSync('/dev/tty', 'r')),
 *   output: new WriteStream(openSync('/dev/tty', 'w')),
 * });
 */
export class CLIBackend implements ApprovalBackend {
  readonly name = 'cli';
  private readonly output: Writable;
  private readonly reader: LineReader;
  private readonly defaultTimeoutMs: number;
  private readonly user: string;
  private readonly validateArgs: ((args: Record<string, unknown>) => string[]) | undefined;
  /** A person types here: discard type-ahead, and their terminal echoes the newline. */
  private readonly interactive: boolean;
  private readonly queue: Job[] = [];
  private active: Job | undefined;
  private pumping = false;
  private closed = false;

  constructor(options: CLIBackendOptions = {}) {
    const input = options.input ?? process.stdin;
    this.output = options.output ?? process.stderr;
    this.interactive = isTTY(input);
    const terminal = options.terminal ?? (this.interactive && isTTY(this.output));
    this.reader = new LineReader(input, this.output, terminal, this.interactive);
    this.reader.onInterrupt = () => this.interrupted();
    this.reader.onDiscard = () =>
      this.write('\n(Ignored input typed before this prompt appeared.)\n');
    this.defaultTimeoutMs = options.timeoutMs ?? CLI_DEFAULT_TIMEOUT_MS;
    this.user = options.user ?? defaultUser();
    this.validateArgs = options.validateArgs;
  }

  /** The `decidedBy` label of answers typed here, e.g. `cli:alice`. */
  get decidedBy(): string {
    return `cli:${this.user}`;
  }

  /** Requests waiting behind the one being prompted. */
  get pending(): number {
    return this.queue.length;
  }

  requestApproval(request: ApprovalRequest, options: ApprovalOptions = {}): Promise<Decision> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<Decision>((resolve, reject) => {
      const job: Job = {
        request,
        options,
        timeoutMs: options.timeoutMs ?? this.defaultTimeoutMs,
        enqueuedAt: performance.now(),
        shownAt: undefined,
        settled: false,
        stop: new AbortController(),
        resolve,
        reject,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      const onAbort = (): void => {
        if (this.active === job) this.write('\n(The request was withdrawn; moving on.)\n');
        this.settle(job, abortError(signal));
      };
      // The clock starts when the caller asks, not when the prompt appears:
      // the agent is blocked from this moment, whether or not the request is
      // still queued behind another.
      const timer =
        Number.isFinite(job.timeoutMs) && job.timeoutMs <= MAX_TIMER_MS
          ? setTimeout(() => this.timedOut(job), Math.max(0, job.timeoutMs))
          : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.closed) {
        this.settle(job, this.unavailable(job, 'the CLI approval backend was closed'));
        return;
      }
      this.queue.push(job);
      void this.pump();
    });
  }

  /**
   * Stops prompting: the request being prompted and all queued ones are
   * rejected as `cli:unavailable`, and the input is released so the process
   * can exit. Later requests are rejected the same way at once.
   *
   * @example
   * process.on('SIGTERM', () => void backend.close());
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of [...(this.active ? [this.active] : []), ...this.queue]) {
      this.settle(job, this.unavailable(job, 'the CLI approval backend was closed'));
    }
    this.reader.detach();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) {
        if (job.settled) continue;
        this.active = job;
        await this.prompt(job);
        this.active = undefined;
      }
    } finally {
      this.active = undefined;
      this.pumping = false;
      // Release the input while idle: a resumed stdin (or a readline in raw
      // mode) would keep the process alive and swallow Ctrl+C.
      this.reader.detach();
    }
  }

  private async prompt(job: Job): Promise<void> {
    try {
      this.reader.attach();
      if (this.interactive) this.reader.discardBuffered();
      this.write(renderRequest(job.request, this.helpLine(job)));
      job.shownAt = performance.now();
      const outcome = await this.dialogue(job);
      const answeredAt = performance.now();
      const decision = this.decision(job, { ...outcome, decidedBy: this.decidedBy }, answeredAt);
      // Typed at this process's own terminal.
      decision.decidedVia = 'terminal';
      this.settle(job, decision);
      this.write(
        outcome.approved
          ? `→ Approved${outcome.editedArgs ? ' with edited arguments' : ''}.\n\n`
          : `→ Rejected: ${makeVisible(outcome.reason)}\n\n`,
      );
    } catch (err) {
      if (job.settled) return; // timeout, abort, close or Ctrl+C: already reported
      if (err instanceof InputClosedError) {
        this.write(`\nInput closed (${err.message}): the call was NOT approved.\n`);
        this.settle(job, this.unavailable(job, err.message));
      } else {
        this.settle(job, err instanceof Error ? err : new Error(String(err)));
      }
    } finally {
      // A fresh readline per request drops any half-typed line, so it cannot
      // carry over into the next request's answer.
      if (this.reader.terminal) this.reader.detach();
    }
  }

  private async dialogue(job: Job): Promise<Outcome> {
    for (;;) {
      const answer = (await this.ask(job, MAIN_PROMPT)).trim().toLowerCase();
      switch (answer) {
        case 'a':
        case 'approve':
        case 'y':
        case 'yes':
          return { approved: true, reason: '' };
        case 'r':
        case 'reject':
        case 'n':
        case 'no': {
          const reason = (await this.ask(job, 'Reason for rejecting (Enter for none): ')).trim();
          return { approved: false, reason: reason || '(no reason given)' };
        }
        case 'e':
        case 'edit': {
          const editedArgs = await this.edit(job);
          if (editedArgs)
            return { approved: true, reason: 'approved with edited arguments', editedArgs };
          break;
        }
        case '?':
        case 'h':
        case 'help':
          this.write(`${HELP}\n${this.helpLine(job)}\n`);
          break;
        case '':
          this.write('Please answer: a (approve), r (reject), e (edit) or ? (help).\n');
          break;
        default:
          this.write(
            `Unknown answer "${makeVisible(answer)}". Type a (approve), r (reject), e (edit) or ? (help).\n`,
          );
      }
    }
  }

  /** Reads replacement arguments until they parse and validate, or the user cancels. */
  private async edit(job: Job): Promise<Record<string, unknown> | undefined> {
    const validate = job.options.validateArgs ?? this.validateArgs;
    this.write(
      'Type the new arguments as a JSON object, on one line or over several lines ended by an empty line.\n' +
        'An empty first line cancels the edit.\n',
    );
    for (;;) {
      const first = await this.ask(job, 'json> ');
      if (first.trim() === '') {
        this.write('Edit cancelled.\n');
        return undefined;
      }
      let text = first;
      let parsed = parseJson(text);
      if (!parsed.ok) {
        // Not complete on one line: keep reading until the empty line.
        for (;;) {
          const more = await this.ask(job, '....> ');
          if (more.trim() === '') break;
          text += `\n${more}`;
        }
        parsed = parseJson(text);
      }
      const problems = parsed.ok
        ? checkArgs(parsed.value, validate)
        : [`not valid JSON: ${parsed.error}`];
      if (problems.length > 0 || !parsed.ok) {
        this.write(
          `The edited arguments were not accepted:\n${problems.map((p) => `  - ${makeVisible(p)}`).join('\n')}\n` +
            'Try again (an empty line cancels the edit).\n',
        );
        continue;
      }
      const args = parsed.value as Record<string, unknown>;
      const hidden = summarizeHiddenCharacters(findHiddenInValue(args));
      this.write(
        `Edited arguments (sha256 ${argsHash(args)}):\n${indent(formatArgsForDisplay(args), 4)}\n` +
          (hidden ? `  ⚠ WARNING: the edited arguments contain ${hidden}.\n` : ''),
      );
      return args;
    }
  }

  private async ask(job: Job, question: string): Promise<string> {
    const signal = job.stop.signal;
    this.reader.prompt(question);
    const line = await this.reader.next(signal);
    if (signal.aborted) {
      // The job ended while this line was in flight; keep the line for the
      // next request rather than lose it.
      this.reader.unread(line);
      throw new StoppedError();
    }
    // A pipe does not echo; end the prompt line so the transcript stays readable.
    if (!this.interactive && !this.reader.terminal) this.write('\n');
    return line;
  }

  private timedOut(job: Job): void {
    const seconds = formatSeconds(job.timeoutMs);
    if (this.active === job) {
      this.write(
        `\nNo answer after ${seconds} s: NOT approved (a timeout, not a rejection by you).\n\n`,
      );
    }
    this.settle(
      job,
      this.decision(job, {
        approved: false,
        decidedBy: 'cli:timeout',
        reason:
          `Timed out after ${seconds} seconds with no answer at the terminal; ` +
          'no human rejected this call, but it was not approved.',
      }),
    );
  }

  /** Ctrl+C at a readline prompt: the person wants out, so stop asking and let the signal through. */
  private interrupted(): void {
    const jobs = [...(this.active ? [this.active] : []), ...this.queue];
    this.write('^C\n');
    for (const job of jobs) {
      this.settle(
        job,
        this.decision(job, {
          approved: false,
          decidedBy: this.decidedBy,
          reason: 'Interrupted with Ctrl+C at the approval prompt; not approved.',
        }),
      );
    }
    // Raw mode swallowed the key; restore the terminal, then deliver the
    // SIGINT the user meant to send (by default the process exits).
    this.reader.detach();
    if (this.interactive) process.kill(process.pid, 'SIGINT');
  }

  private unavailable(job: Job, why: string): Decision {
    return this.decision(job, {
      approved: false,
      decidedBy: 'cli:unavailable',
      reason:
        `Nobody could answer at the terminal (${why}); failing closed: ` +
        'the call was not approved, and no human rejected it.',
    });
  }

  private decision(
    job: Job,
    fields: Outcome & { decidedBy: string },
    at: number = performance.now(),
  ): Decision {
    const decision: Decision = {
      actionId: job.request.action.id,
      approved: fields.approved,
      reason: fields.reason,
      decidedBy: fields.decidedBy,
      tags: [],
      argsHash: argsHash(fields.editedArgs ?? job.request.action.toolArgs),
      decidedAt: new Date().toISOString(),
      // From when the person could first see the request; a request that
      // never reached the screen counts from when it was asked.
      latencyMs: Math.max(0, at - (job.shownAt ?? job.enqueuedAt)),
    };
    if (fields.editedArgs) decision.editedArgs = fields.editedArgs;
    return decision;
  }

  private settle(job: Job, outcome: Decision | Error): void {
    if (job.settled) return;
    job.settled = true;
    job.cleanup();
    job.stop.abort();
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  private helpLine(job: Job): string {
    return `Unanswered after ${formatSeconds(job.timeoutMs)} s, the call is rejected as a timeout.`;
  }

  private write(text: string): void {
    this.output.write(text);
  }
}

const HELP = [
  '  a, approve, y   run the tool with the arguments shown',
  '  r, reject, n    do not run it (you are asked for an optional reason)',
  '  e, edit         type replacement arguments as JSON; the tool runs with those',
  '  ?, help         show this help',
].join('\n');

/**
 * Lines from the input, one consumer at a time. Buffers lines that arrive
 * before anyone asks, so piped answers are never lost between prompts, and
 * attaches to the stream only while a request is being prompted.
 */
class LineReader {
  readonly terminal: boolean;
  onInterrupt: () => void = () => {};
  onDiscard: () => void = () => {};
  private readonly input: Readable;
  private readonly output: Writable;
  private readonly lines: string[] = [];
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private waiter: { resolve(line: string): void; reject(error: Error): void } | undefined;
  private rl: Interface | undefined;
  private attached = false;
  private ended = false;
  private endReason = '';
  /** Drop lines typed ahead of the prompt (a person's input only). */
  private readonly guardTypeAhead: boolean;
  private typeAheadGuard: NodeJS.Immediate | undefined;

  constructor(input: Readable, output: Writable, terminal: boolean, guardTypeAhead: boolean) {
    this.input = input;
    this.output = output;
    this.terminal = terminal;
    this.guardTypeAhead = guardTypeAhead;
  }

  attach(): void {
    if (this.attached || this.ended) return;
    if (this.input.readableEnded || this.input.destroyed) {
      this.end('the input stream had already ended');
      return;
    }
    this.attached = true;
    if (this.guardTypeAhead) {
      // Keystrokes typed while nothing was prompting sit in the kernel's
      // buffer and arrive as soon as reading resumes, before any person could
      // have read the new prompt. Input that arrives before the event loop
      // goes idle is that backlog: drop it.
      this.typeAheadGuard = setImmediate(() => {
        this.typeAheadGuard = undefined;
      });
    }
    if (this.terminal) {
      const rl = createInterface({
        input: this.input,
        output: this.output,
        terminal: true,
        historySize: 0,
      });
      rl.on('line', this.onLine);
      rl.on('close', this.onReadlineClose);
      rl.on('SIGINT', this.onSigint);
      this.rl = rl;
    } else {
      this.input.on('data', this.onData);
      this.input.on('end', this.onStreamEnd);
      this.input.on('close', this.onStreamEnd);
      this.input.on('error', this.onError);
      this.input.resume();
    }
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    if (this.typeAheadGuard) clearImmediate(this.typeAheadGuard);
    this.typeAheadGuard = undefined;
    const rl = this.rl;
    if (rl) {
      this.rl = undefined;
      // Our own close is not end of input.
      rl.off('close', this.onReadlineClose);
      rl.close();
      rl.removeAllListeners();
    } else {
      this.input.off('data', this.onData);
      this.input.off('end', this.onStreamEnd);
      this.input.off('close', this.onStreamEnd);
      this.input.off('error', this.onError);
      this.input.pause();
    }
  }

  prompt(text: string): void {
    // readline redraws its prompt when the user edits the line, so on a
    // terminal the question must be its prompt, not text written before it.
    if (this.rl) {
      this.rl.setPrompt(text);
      this.rl.prompt();
    } else {
      this.output.write(text);
    }
  }

  discardBuffered(): void {
    this.lines.length = 0;
  }

  unread(line: string): void {
    this.lines.unshift(line);
  }

  next(signal: AbortSignal): Promise<string> {
    if (signal.aborted) return Promise.reject(new StoppedError());
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.reject(new InputClosedError(this.endReason));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.waiter = undefined;
        reject(new StoppedError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        resolve: (l) => {
          signal.removeEventListener('abort', onAbort);
          resolve(l);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
    });
  }

  private push(line: string): void {
    if (this.typeAheadGuard) {
      this.onDiscard();
      return;
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve(line);
    else this.lines.push(line);
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = reason;
    this.detach();
    // Lines already buffered still answer; only a reader left waiting fails.
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(new InputClosedError(reason));
  }

  private readonly onLine = (line: string): void => this.push(line);

  private readonly onData = (chunk: Buffer | string): void => {
    this.partial += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    for (let nl = this.partial.indexOf('\n'); nl >= 0; nl = this.partial.indexOf('\n')) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      this.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
  };

  private readonly onStreamEnd = (): void => {
    if (this.ended) return;
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.push(rest);
    this.end('end of input');
  };

  private readonly onError = (error: Error): void => this.end(`input error: ${error.message}`);

  private readonly onReadlineClose = (): void => this.end('the terminal input was closed');

  private readonly onSigint = (): void => this.onInterrupt();
}

/** Renders the request card. Every text field is made visible: all of it may come from a model or a tool server. */
function renderRequest(request: ApprovalRequest, footer: string): string {
  const action = request.action;
  const rows: Array<[string, string]> = [
    ['Tool', action.toolName],
    ['Server', action.server ?? '(not given)'],
    ['Risk', action.riskClass.toUpperCase()],
  ];
  if (action.sideEffects.length > 0) rows.push(['Side effects', action.sideEffects.join(', ')]);
  rows.push(
    [
      'Policy',
      request.policyReason ? `${request.policyName}: ${request.policyReason}` : request.policyName,
    ],
    ['Rationale', action.rationale || '(none given)'],
    ['Run', request.runId],
    ['Action id', action.id],
    ['Requested', request.createdAt],
    ['Expires', request.expiresAt ?? '(no expiry)'],
  );
  const label = 14;
  const lines = ['', '=== hitloop: approval needed ==='];
  const hiddenFields: string[] = [];
  for (const [name, value] of rows) {
    const found = findHiddenCharacters(value).length;
    if (found > 0) hiddenFields.push(`${name.toLowerCase()} (${found})`);
    lines.push(`  ${`${name}:`.padEnd(label)}${indent(makeVisible(value), label + 2).trimStart()}`);
  }
  lines.push('  Arguments:', indent(formatArgsForDisplay(action.toolArgs), 4));
  const hidden = findHiddenInValue(action.toolArgs);
  if (hidden.length > 0) {
    lines.push(
      `  ⚠ WARNING: the arguments contain ${summarizeHiddenCharacters(hidden)}.`,
      '    They are shown above as ⟦U+XXXX NAME⟧ markers; the tool would receive the real characters.',
    );
  }
  if (hiddenFields.length > 0) {
    lines.push(`  ⚠ WARNING: hidden characters also in: ${hiddenFields.join(', ')}.`);
  }
  lines.push(
    `  ${'Args hash:'.padEnd(label)}sha256 ${argsHash(action.toolArgs)}`,
    `  ${footer}`,
    '',
  );
  return lines.join('\n');
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function checkArgs(
  value: unknown,
  validate: ((args: Record<string, unknown>) => string[]) | undefined,
): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    return [`the arguments must be a JSON object ({...}), not ${kind}`];
  }
  if (!validate) return [];
  try {
    return validate(value as Record<string, unknown>);
  } catch (err) {
    return [`validation failed: ${err instanceof Error ? err.message : String(err)}`];
  }
}

function formatSeconds(ms: number): string {
  return String(Math.round(ms / 10) / 100);
}

function isTTY(stream: unknown): boolean {
  return Boolean((stream as { isTTY?: boolean }).isTTY);
}

function defaultUser(): string {
  try {
    const name = userInfo().username;
    if (name) return name;
  } catch {
    // No passwd entry (some containers): fall back to the environment.
  }
  return process.env.USER ?? process.env.USERNAME ?? 'user';
}
