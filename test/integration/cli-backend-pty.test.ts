// Drives CLIBackend through a real pseudo-terminal: readline in terminal mode,
// raw mode, echo and Enter as `\r`, exactly as a person at a terminal would.
// The driver imports the built library from dist (`npm test` builds first).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pty from '@lydell/node-pty';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Decision } from '../../shared/models/decision.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const driver = join(root, 'test/fixtures/cli-backend-driver.mjs');
const PROMPT = 'Decision? [a]pprove';
const ORIGINAL_ARGS = { to: 'bob@example.com\u202Emoc.live', subject: 'Quarterly report' };

// CSI and OSC sequences, so assertions see the text a person sees.
const ANSI = /\u001B(?:\[[0-9;?]*[ -/]*[@-~]|\][^\u0007\u001B]*(?:\u0007|\u001B\\)|[@-Z\\-_])/g;

interface Session {
  write(data: string): void;
  waitFor(needle: string): Promise<void>;
  screen(): string;
  exit: Promise<{ exitCode: number; signal?: number }>;
  decision(): Decision;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function start(): Session {
  const dir = makeTempDir('hitloop-pty-');
  const decisionFile = join(dir, 'decision.json');
  const term = pty.spawn(process.execPath, [driver, decisionFile], {
    name: 'xterm-256color',
    cols: 200,
    rows: 60,
    cwd: root,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let raw = '';
  term.onData((data) => {
    raw += data;
  });
  let exited = false;
  const exit = new Promise<{ exitCode: number; signal?: number }>((resolve) => {
    term.onExit((e) => {
      exited = true;
      resolve(e);
    });
  });
  cleanups.push(() => {
    if (!exited) term.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const screen = () => raw.replace(ANSI, '');
  return {
    write: (data) => term.write(data),
    screen,
    async waitFor(needle) {
      const deadline = Date.now() + 10_000;
      while (!screen().includes(needle)) {
        if (exited || Date.now() > deadline) {
          throw new Error(`no ${JSON.stringify(needle)} in the terminal; it shows:\n${screen()}`);
        }
        await sleep(10);
      }
    },
    exit,
    decision: () => Decision.parse(JSON.parse(readFileSync(decisionFile, 'utf8'))),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exitsCleanly(session: Session): Promise<void> {
  const result = await Promise.race([session.exit, sleep(10_000).then(() => 'hung' as const)]);
  // The driver never calls close(): exiting proves nothing was left holding the event loop.
  expect(result, `driver did not exit; terminal shows:\n${session.screen()}`).toEqual({
    exitCode: 0,
    signal: 0,
  });
}

beforeAll(() => {
  if (!existsSync(join(root, 'dist/shared/backends/index.js'))) {
    throw new Error(
      'dist/shared/backends/index.js is missing: build first with `npx tsc -p tsconfig.build.json` (npm test does)',
    );
  }
});

describe('CLIBackend in a real terminal', () => {
  it('approves with a, after showing U+202E as a visible marker', async () => {
    const s = start();
    await s.waitFor(PROMPT);
    const shown = s.screen();
    expect(shown).toContain('"to": "bob@example.com⟦U+202E RLO⟧moc.live"');
    expect(shown).not.toContain('\u202E');
    expect(shown).toContain('WARNING: the arguments contain 1 hidden character: U+202E RLO in to');
    expect(shown).toContain(`sha256 ${argsHash(ORIGINAL_ARGS)}`);
    await sleep(50); // let the person "read"; faster input counts as type-ahead and is dropped
    s.write('a\r');
    await exitsCleanly(s);
    const d = s.decision();
    expect(d.approved).toBe(true);
    expect(d.decidedBy).toBe('cli:pty-user');
    expect(d.actionId).toBe('pty-action');
    expect(d.editedArgs).toBeUndefined();
    expect(d.argsHash).toBe(argsHash(ORIGINAL_ARGS));
    expect(d.latencyMs).toBeGreaterThan(0);
  });

  it('edits: typed JSON becomes editedArgs', async () => {
    const s = start();
    await s.waitFor(PROMPT);
    await sleep(50);
    s.write('e\r{"to": "bob@example.com", "subject": "Q3 report"}\r\r');
    await exitsCleanly(s);
    const d = s.decision();
    expect(d.approved).toBe(true);
    expect(d.editedArgs).toEqual({ to: 'bob@example.com', subject: 'Q3 report' });
    expect(d.argsHash).toBe(argsHash({ to: 'bob@example.com', subject: 'Q3 report' }));
    expect(d.decidedBy).toBe('cli:pty-user');
    expect(d.latencyMs).toBeGreaterThan(0);
    // readline echoed what was typed.
    expect(s.screen()).toContain('Q3 report');
  });

  it('edits over several lines after an invalid attempt', async () => {
    const s = start();
    await s.waitFor(PROMPT);
    await sleep(50);
    s.write('e\r{"to": 5}\r');
    await s.waitFor('to: expected a string');
    s.write('{\r"to": "carol@example.com"\r}\r\r');
    await exitsCleanly(s);
    expect(s.decision().editedArgs).toEqual({ to: 'carol@example.com' });
  });

  it('rejects with a reason', async () => {
    const s = start();
    await s.waitFor(PROMPT);
    await sleep(50);
    s.write('r\r');
    await s.waitFor('Reason for rejecting');
    s.write('the address is reversed\r');
    await exitsCleanly(s);
    const d = s.decision();
    expect(d.approved).toBe(false);
    expect(d.reason).toBe('the address is reversed');
    expect(d.decidedBy).toBe('cli:pty-user');
    expect(d.latencyMs).toBeGreaterThan(0);
  });

  it('fails closed on Ctrl+D as cli:unavailable', async () => {
    const s = start();
    await s.waitFor(PROMPT);
    await sleep(50);
    s.write('\u0004');
    await exitsCleanly(s);
    const d = s.decision();
    expect(d.approved).toBe(false);
    expect(d.decidedBy).toBe('cli:unavailable');
  });

  it('lets Ctrl+C interrupt the program as usual', async () => {
    const s = start();
    await s.waitFor(PROMPT);
    await sleep(50);
    s.write('\u0003');
    const result = await Promise.race([s.exit, sleep(10_000).then(() => 'hung' as const)]);
    expect(result).toMatchObject({ signal: 2 });
  });
});
