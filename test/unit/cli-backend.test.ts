import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIBackend, type CLIBackendOptions } from '../../shared/backends/cli.js';
import { createAction } from '../../shared/models/action.js';
import { ApprovalRequest } from '../../shared/models/approval-request.js';
import { Decision, isTimeoutDecision } from '../../shared/models/decision.js';
import { argsHash } from '../../shared/util/canonical-json.js';

const PROMPT = 'Decision? [a]pprove';

function request(
  toolArgs: Record<string, unknown> = { to: 'bob@example.com', subject: 'hi' },
  id = 'act-1',
  toolName = 'send_email',
): ApprovalRequest {
  return ApprovalRequest.parse({
    runId: 'run-42',
    action: createAction({
      id,
      toolName,
      toolArgs,
      riskClass: 'high',
      server: 'mail',
      rationale: 'The user asked me to email Bob.',
    }),
    policyName: 'risk_based',
    policyReason: 'send_email is high risk',
    createdAt: '2025-01-02T03:04:05.000Z',
    expiresAt: '2025-01-02T03:14:05.000Z',
  });
}

const open: CLIBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function harness(options: CLIBackendOptions = {}, inputIsTTY = false) {
  const input = new PassThrough();
  if (inputIsTTY) Object.assign(input, { isTTY: true });
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  const backend = new CLIBackend({ input, output, user: 'tester', timeoutMs: 5_000, ...options });
  open.push(backend);
  const count = (needle: string): number => text.split(needle).length - 1;
  /** Waits until `needle` has appeared `times` times in the output. */
  const waitFor = async (needle: string, times = 1): Promise<void> => {
    const deadline = Date.now() + 3_000;
    while (count(needle) < times) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${JSON.stringify(needle)} x${times}; output:\n${text}`,
        );
      }
      await sleep(2);
    }
  };
  return {
    input,
    output,
    backend,
    out: () => text,
    count,
    waitFor,
    type: (s: string) => input.write(s),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CLIBackend over pipes', () => {
  it('approves with a, showing the whole request', async () => {
    const h = harness();
    const req = request();
    const pending = h.backend.requestApproval(req);
    await h.waitFor(PROMPT);
    await sleep(20);
    h.type('a\n');
    const d = await pending;
    expect(Decision.parse(d)).toEqual(d);
    expect(d).toMatchObject({ approved: true, decidedBy: 'cli:tester', actionId: 'act-1' });
    expect(d.argsHash).toBe(argsHash(req.action.toolArgs));
    expect(d.editedArgs).toBeUndefined();
    expect(d.latencyMs).toBeGreaterThanOrEqual(15);
    expect(d.latencyMs).toBeLessThan(3_000);
    expect(d.decidedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const out = h.out();
    for (const expected of [
      'send_email',
      'mail',
      'HIGH',
      'risk_based: send_email is high risk',
      'The user asked me to email Bob.',
      'run-42',
      'act-1',
      '2025-01-02T03:14:05.000Z',
      '"to": "bob@example.com"',
      `sha256 ${argsHash(req.action.toolArgs)}`,
      'Approved',
    ]) {
      expect(out).toContain(expected);
    }
    expect(out).not.toContain('WARNING');
  });

  it.each(['approve', 'y', 'YES', ' A '])('accepts %j as approve', async (answer) => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type(`${answer}\n`);
    expect((await pending).approved).toBe(true);
  });

  it('rejects with a reason', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('r\n');
    await h.waitFor('Reason for rejecting');
    h.type('wrong recipient\n');
    const d = await pending;
    expect(d).toMatchObject({
      approved: false,
      reason: 'wrong recipient',
      decidedBy: 'cli:tester',
    });
    expect(isTimeoutDecision(d)).toBe(false);
    expect(h.out()).toContain('Rejected: wrong recipient');
  });

  it('records an empty reason as "(no reason given)"', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('n\n\n');
    expect(await pending).toMatchObject({ approved: false, reason: '(no reason given)' });
  });

  it('edits on a single line: approved with editedArgs and their hash', async () => {
    const h = harness();
    const req = request();
    const pending = h.backend.requestApproval(req);
    await h.waitFor(PROMPT);
    h.type('e\n');
    await h.waitFor('json> ');
    h.type('{"to": "alice@example.com", "subject": "hi"}\n');
    const d = await pending;
    expect(d.approved).toBe(true);
    expect(d.editedArgs).toEqual({ to: 'alice@example.com', subject: 'hi' });
    expect(d.argsHash).toBe(argsHash({ subject: 'hi', to: 'alice@example.com' }));
    expect(d.argsHash).not.toBe(argsHash(req.action.toolArgs));
    expect(d.decidedBy).toBe('cli:tester');
    expect(h.out()).toContain('Approved with edited arguments');
  });

  it('edits over several lines ended by an empty line', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('edit\n{\n  "to": "carol@example.com",\n  "cc": ["dan@example.com"]\n}\n\n');
    const d = await pending;
    expect(d.editedArgs).toEqual({ to: 'carol@example.com', cc: ['dan@example.com'] });
  });

  it('shows invalid JSON and non-objects, then accepts valid JSON', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('e\n{bad json\n\n');
    await h.waitFor('not valid JSON');
    h.type('[1, 2]\n');
    await h.waitFor('must be a JSON object');
    h.type('{"to": "ok@example.com"}\n');
    const d = await pending;
    expect(d.editedArgs).toEqual({ to: 'ok@example.com' });
  });

  it('runs validateArgs (request options over constructor) until the edit passes', async () => {
    const h = harness({ validateArgs: () => ['constructor validator must not be used'] });
    const pending = h.backend.requestApproval(request(), {
      validateArgs: (args) => (typeof args.to === 'string' ? [] : ['to: expected a string']),
    });
    await h.waitFor(PROMPT);
    h.type('e\n{"to": 7}\n');
    await h.waitFor('to: expected a string');
    h.type('{"to": "x@example.com"}\n');
    const d = await pending;
    expect(d.editedArgs).toEqual({ to: 'x@example.com' });
    expect(h.out()).not.toContain('constructor validator');
  });

  it('uses the constructor validateArgs when the request has none', async () => {
    const h = harness({ validateArgs: (a) => ('to' in a ? [] : ['missing "to"']) });
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('e\n{"subject": "x"}\n');
    await h.waitFor('missing "to"');
    h.type('{"to": "y"}\n');
    expect((await pending).editedArgs).toEqual({ to: 'y' });
  });

  it('cancels an edit with an empty line and asks again', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('e\n\n');
    await h.waitFor(PROMPT, 2);
    expect(h.out()).toContain('Edit cancelled');
    h.type('a\n');
    const d = await pending;
    expect(d.approved).toBe(true);
    expect(d.editedArgs).toBeUndefined();
  });

  it('re-prompts on unknown answers and shows help', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('maybe\n?\n\n');
    await h.waitFor(PROMPT, 4);
    const out = h.out();
    expect(out).toContain('Unknown answer "maybe"');
    expect(out).toContain('e, edit');
    expect(out).toContain('Please answer');
    h.type('r\nnot now\n');
    expect(await pending).toMatchObject({ approved: false, reason: 'not now' });
  });

  it('times out as cli:timeout, not as a human rejection', async () => {
    const h = harness({ timeoutMs: 60 });
    const d = await h.backend.requestApproval(request());
    expect(d).toMatchObject({ approved: false, decidedBy: 'cli:timeout' });
    expect(isTimeoutDecision(d)).toBe(true);
    expect(d.reason).toMatch(/Timed out after 0\.06 seconds/);
    expect(d.reason).toMatch(/no human rejected/);
    expect(d.latencyMs).toBeGreaterThan(30);
    expect(h.out()).toContain('NOT approved');
  });

  it('per-request timeoutMs overrides the default, and the prompt moves on', async () => {
    const h = harness({ timeoutMs: 5_000 });
    const first = h.backend.requestApproval(request({}, 'slow'), { timeoutMs: 40 });
    const second = h.backend.requestApproval(request({}, 'next'));
    expect((await first).decidedBy).toBe('cli:timeout');
    await h.waitFor(PROMPT, 2);
    h.type('a\n');
    expect(await second).toMatchObject({ actionId: 'next', approved: true });
  });

  it('fails closed as cli:unavailable when the input ends', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.input.end();
    const d = await pending;
    expect(d).toMatchObject({ approved: false, decidedBy: 'cli:unavailable' });
    expect(d.reason).toMatch(/end of input/);
    expect(d.reason).toMatch(/not approved/);
    // Later requests fail closed at once.
    const later = await h.backend.requestApproval(request({}, 'later'));
    expect(later).toMatchObject({ actionId: 'later', decidedBy: 'cli:unavailable' });
  });

  it('still uses answers piped before the end of input', async () => {
    const h = harness();
    h.input.end('a\nr\nnope\n');
    const [d1, d2, d3] = await Promise.all([
      h.backend.requestApproval(request({}, 'one')),
      h.backend.requestApproval(request({}, 'two')),
      h.backend.requestApproval(request({}, 'three')),
    ]);
    expect(d1).toMatchObject({ actionId: 'one', approved: true });
    expect(d2).toMatchObject({ actionId: 'two', approved: false, reason: 'nope' });
    expect(d3).toMatchObject({ actionId: 'three', decidedBy: 'cli:unavailable' });
  });

  it('cancels the request being prompted on abort and moves on', async () => {
    const h = harness();
    const ctl = new AbortController();
    const first = h.backend.requestApproval(request({}, 'first'), { signal: ctl.signal });
    const second = h.backend.requestApproval(request({}, 'second'));
    await h.waitFor(PROMPT);
    expect(h.out()).not.toContain('second');
    ctl.abort();
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    await h.waitFor(PROMPT, 2);
    expect(h.out()).toContain('withdrawn');
    h.type('a\n');
    expect(await second).toMatchObject({ actionId: 'second', approved: true });
  });

  it('removes an aborted request that is still queued', async () => {
    const h = harness();
    const ctl = new AbortController();
    const first = h.backend.requestApproval(request({}, 'first'));
    const queued = h.backend.requestApproval(request({}, 'queued'), { signal: ctl.signal });
    await h.waitFor(PROMPT);
    expect(h.backend.pending).toBe(1);
    ctl.abort();
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' });
    expect(h.backend.pending).toBe(0);
    h.type('a\n');
    expect(await first).toMatchObject({ actionId: 'first', approved: true });
    await sleep(20);
    expect(h.out()).not.toContain('queued');
    expect(h.count(PROMPT)).toBe(1);
  });

  it('rejects a request whose signal is already aborted', async () => {
    const h = harness();
    await expect(
      h.backend.requestApproval(request(), { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('prompts concurrent requests one at a time, in order', async () => {
    const h = harness();
    const first = h.backend.requestApproval(request({ n: 1 }, 'first', 'tool_one'));
    const second = h.backend.requestApproval(request({ n: 2 }, 'second', 'tool_two'));
    await h.waitFor(PROMPT);
    await sleep(20);
    expect(h.out()).toContain('tool_one');
    expect(h.out()).not.toContain('tool_two');
    h.type('a\n');
    expect(await first).toMatchObject({ actionId: 'first', approved: true });
    await h.waitFor(PROMPT, 2);
    expect(h.out().indexOf('tool_two')).toBeGreaterThan(h.out().indexOf('tool_one'));
    h.type('r\nsecond thoughts\n');
    expect(await second).toMatchObject({
      actionId: 'second',
      approved: false,
      reason: 'second thoughts',
    });
  });

  it('shows hidden characters in the arguments as markers, with a warning', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(
      request({ to: 'bob@example.com\u202Emoc.live', note: 'zero\u200Bwidth', esc: '\u001B[2J' }),
    );
    await h.waitFor(PROMPT);
    const out = h.out();
    expect(out).toContain('"to": "bob@example.com⟦U+202E RLO⟧moc.live"');
    expect(out).toContain('zero⟦U+200B ZWSP⟧width');
    expect(out).not.toContain('\u202E');
    expect(out).not.toContain('\u200B');
    expect(out).not.toContain('\u001B');
    expect(out).toContain('WARNING: the arguments contain 3 hidden characters');
    expect(out).toContain('U+202E RLO in to');
    h.type('r\n\n');
    await pending;
  });

  it('makes hidden characters in other fields visible too', async () => {
    const h = harness();
    const req = request();
    req.action.rationale = 'looks fine\u202E';
    req.action.toolName = 'send\u001B[31m_email';
    const pending = h.backend.requestApproval(req);
    await h.waitFor(PROMPT);
    expect(h.out()).toContain('send⟦U+001B ESC⟧[31m_email');
    expect(h.out()).toContain('hidden characters also in: tool (1), rationale (1)');
    expect(h.out()).not.toContain('\u001B');
    h.type('a\n');
    await pending;
  });

  it('close() fails pending requests closed and releases the input', async () => {
    const h = harness();
    const first = h.backend.requestApproval(request({}, 'first'));
    const second = h.backend.requestApproval(request({}, 'second'));
    await h.waitFor(PROMPT);
    await h.backend.close();
    expect(await first).toMatchObject({ decidedBy: 'cli:unavailable', approved: false });
    expect(await second).toMatchObject({ decidedBy: 'cli:unavailable', approved: false });
    expect((await h.backend.requestApproval(request())).reason).toMatch(/closed/);
    expect(h.input.listenerCount('data')).toBe(0);
    expect(h.input.isPaused()).toBe(true);
  });

  it('detaches from the input while idle', async () => {
    const h = harness();
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    expect(h.input.listenerCount('data')).toBe(1);
    h.type('a\n');
    await pending;
    await sleep(5);
    expect(h.input.listenerCount('data')).toBe(0);
    expect(h.input.listenerCount('end')).toBe(0);
  });

  it('uses the OS user name by default', () => {
    const input = new PassThrough();
    const b = new CLIBackend({ input, output: new PassThrough() });
    open.push(b);
    expect(b.decidedBy).toMatch(/^cli:.+/);
  });
});

describe('CLIBackend with a person at the keyboard', () => {
  it('drops lines typed ahead of a prompt', async () => {
    const h = harness({}, true);
    const first = h.backend.requestApproval(request({}, 'first'));
    const second = h.backend.requestApproval(request({}, 'second'));
    await h.waitFor(PROMPT);
    await sleep(20); // a person needs time to read; input faster than one event-loop turn is type-ahead
    // An extra "a" typed while the first prompt is up must not approve the
    // second request, which the person has not seen yet.
    h.type('a\na\n');
    expect(await first).toMatchObject({ actionId: 'first', approved: true });
    await h.waitFor(PROMPT, 2);
    await sleep(30);
    h.type('r\n\n');
    expect(await second).toMatchObject({ actionId: 'second', approved: false });
  });

  it('drops input that was waiting before the prompt appeared', async () => {
    const h = harness({}, true);
    h.type('a\n');
    const pending = h.backend.requestApproval(request());
    await h.waitFor('Ignored input typed before this prompt appeared');
    h.type('n\n\n');
    expect(await pending).toMatchObject({ approved: false });
  });

  it('works through readline terminal mode', async () => {
    const h = harness({ terminal: true });
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('e\r{"to": "term@example.com"}\r\r');
    const d = await pending;
    expect(d.editedArgs).toEqual({ to: 'term@example.com' });
    await sleep(5);
    expect(h.input.listenerCount('keypress')).toBe(0);
  });

  it('treats Ctrl+C at a terminal prompt as a refusal', async () => {
    const h = harness({ terminal: true });
    const pending = h.backend.requestApproval(request());
    await h.waitFor(PROMPT);
    h.type('\u0003');
    const d = await pending;
    expect(d).toMatchObject({ approved: false, decidedBy: 'cli:tester' });
    expect(d.reason).toMatch(/Ctrl\+C/);
  });
});
