import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AnyScenario,
  CodingScenario,
  createAction,
  EmailDraftScenario,
  type ErrorType,
  findSecrets,
  keyedUniform,
  RecordUpdateScenario,
  SafeShell,
  snapshotWorkspace,
  tokenize,
} from '../../shared/index.js';

const TASKS = 120;

// Each scenario, run against its real state: the mail store, the SQLite CRM,
// the workspace on disk.
const scenarios: Array<[string, () => AnyScenario]> = [
  ['email_draft', () => new EmailDraftScenario()],
  ['record_update', () => new RecordUpdateScenario()],
  ['coding', () => new CodingScenario()],
];

describe.each(scenarios)('%s scenario', (name, make) => {
  const scenario = make();
  beforeAll(() => scenario.setUp());
  afterAll(() => scenario.tearDown());
  const tasks = Array.from({ length: TASKS }, (_, i) => scenario.createTask(`7|${name}|task|${i}`));

  it('creates tasks deterministically from their key', () => {
    const again = make().createTask(`7|${name}|task|3`);
    expect(again).toEqual(tasks[3]);
    expect(scenario.taskSchema.parse(tasks[3])).toEqual(tasks[3]);
    expect(new Set(tasks.map((t) => t.description)).size).toBeGreaterThan(5);
  });

  it('the correct action succeeds for every task, checked on the real side effects', () => {
    for (const task of tasks) {
      scenario.beginTrial(task);
      const action = scenario.generateAction(task);
      const run = scenario.execute(action.toolName, action.toolArgs);
      expect(run.error).toBeUndefined();
      const result = scenario.validateResult(task, run);
      expect(result.problems, `${task.id}: ${task.description}`).toEqual([]);
      expect(result.success).toBe(true);
      expect(scenario.inspect(action, task)).toEqual({ erroneous: false, findings: [] });
    }
  });

  it('a task whose action never ran is not a success', () => {
    const task = tasks[0]!;
    scenario.beginTrial(task);
    expect(scenario.validateResult(task, undefined).success).toBe(false);
  });

  it.each(make().errorTypes.map((t) => [t]))(
    'every %s mistake makes the task fail when executed, and inspection sees it',
    (kind: ErrorType) => {
      let tried = 0;
      for (const [i, task] of tasks.entries()) {
        if (!scenario.errorTypesFor(task).includes(kind)) continue;
        tried++;
        const correct = scenario.generateAction(task);
        const wrong = scenario.injectError(correct, task, kind, (label) =>
          keyedUniform('test', i, label),
        );
        // The mistake is in the call itself, never in a label beside it.
        expect(wrong.id).toBe(correct.id);
        expect(wrong.rationale).toBe(correct.rationale);
        expect(JSON.stringify(wrong)).not.toContain(kind);
        scenario.beginTrial(task);
        const run = scenario.execute(wrong.toolName, wrong.toolArgs);
        const result = scenario.validateResult(task, run);
        expect(
          result.success,
          `${kind} on ${task.description}: ${JSON.stringify(wrong.toolArgs)}`,
        ).toBe(false);
        expect(result.problems.length).toBeGreaterThan(0);
        // The reviewer's inspection judges from the action and the task alone.
        const seen = scenario.inspect(wrong, task);
        expect(seen.erroneous, `${kind}: ${JSON.stringify(wrong)}`).toBe(true);
        expect(seen.findings.length).toBeGreaterThan(0);
      }
      expect(tried).toBeGreaterThan(5);
    },
  );

  it('every trial starts from the same state, whatever the last one did', () => {
    for (const [i, task] of tasks.slice(0, 40).entries()) {
      const kinds = scenario.errorTypesFor(task);
      const kind = kinds[i % kinds.length]!;
      const wrong = scenario.generateAction(task, false, kind, `reset-${i}`);
      scenario.beginTrial(task);
      scenario.execute(wrong.toolName, wrong.toolArgs);
      // The next trial must see a pristine state: its correct action succeeds.
      const next = tasks[(i + 1) % tasks.length]!;
      scenario.beginTrial(next);
      const action = scenario.generateAction(next);
      expect(
        scenario.validateResult(next, scenario.execute(action.toolName, action.toolArgs)).success,
      ).toBe(true);
    }
  });

  it('generateAction(task, false) plants the first kind the task supports', () => {
    const task = tasks[1]!;
    const wrong = scenario.generateAction(task, false);
    expect(scenario.inspect(wrong, task).erroneous).toBe(true);
  });

  it('an unknown tool is a tool failure, not a crash', () => {
    scenario.beginTrial(tasks[0]!);
    const run = scenario.execute('no_such_tool', {});
    expect(run.ok).toBe(false);
    expect(run.error).toMatch(/unknown tool/);
  });
});

describe('scenario specifics', () => {
  it('email: a wrong recipient fails whichever address it went to (the seed counted most as successes)', () => {
    const s = new EmailDraftScenario();
    s.setUp();
    let sentElsewhere = 0;
    for (let i = 0; i < 200; i++) {
      const task = s.createTask(`1|email_draft|task|${i}`);
      const wrong = s.generateAction(task, false, 'wrong_recipient', `k${i}`);
      s.beginTrial(task);
      const run = s.execute(wrong.toolName, wrong.toolArgs);
      if (run.ok) sentElsewhere++;
      expect(s.validateResult(task, run).success).toBe(false);
    }
    expect(sentElsewhere).toBe(200);
  });

  it('email: risk comes from the visible call (draft low, internal medium, external high)', () => {
    const s = new EmailDraftScenario();
    const risks = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const task = s.createTask(`1|email_draft|task|${i}`);
      const a = s.generateAction(task);
      risks.add(`${a.toolName}:${a.riskClass}`);
      if (a.toolName === 'save_draft') expect(a.riskClass).toBe('low');
    }
    expect(risks).toContain('send_email:high');
    expect(risks).toContain('send_email:medium');
  });

  it('record_update: the CRM is a real SQLite database with customers and an audit log', () => {
    const s = new RecordUpdateScenario();
    s.setUp();
    const task = s.createTask('1|record_update|task|2');
    s.beginTrial(task);
    const action = s.generateAction(task);
    s.execute(action.toolName, action.toolArgs);
    const audit = s.database.prepare('SELECT customer_id, field FROM audit_log').all();
    expect(audit).toEqual([{ customer_id: task.customerId, field: expect.any(String) }]);
    s.beginTrial(task);
    expect(s.database.prepare('SELECT count(*) AS n FROM audit_log').get()).toEqual({ n: 0 });
    s.tearDown();
  });

  it('coding: the workspace is back to the fixture after a destructive command', () => {
    const s = new CodingScenario();
    s.setUp();
    const task = s.createTask('1|coding|task|0');
    s.beginTrial(task);
    const pristine = snapshotWorkspace(s.workspace);
    const wrong = s.generateAction(task, false, 'destructive_command', 'x');
    expect(s.execute(wrong.toolName, wrong.toolArgs).ok).toBe(true);
    expect(snapshotWorkspace(s.workspace)).not.toEqual(pristine);
    s.beginTrial(task);
    expect(snapshotWorkspace(s.workspace)).toEqual(pristine);
    s.tearDown();
  });

  it('findSecrets recognises every leak the scenarios plant and none of their normal text', () => {
    expect(findSecrets('password: Spring2024!')).toEqual(['a password']);
    expect(findSecrets('card 4111 1111 1111 1111')).toEqual(['a payment card number']);
    expect(findSecrets('SSN 123-45-6789')).toEqual(['a social security number']);
    expect(findSecrets('key sk_live_51HxQ2eLkdIwHu7ix')).toEqual(['an API key']);
    expect(findSecrets('Invoice INV-2041 for $1,240.50 is due on Friday.')).toEqual([]);
  });

  it('a hand-written wrong action (not from the injector) is judged wrong too', () => {
    const s = new RecordUpdateScenario();
    const task = s.createTask('1|record_update|task|5');
    const correct = s.generateAction(task);
    const handMade = createAction({
      id: correct.id,
      toolName: correct.toolName,
      toolArgs: { ...correct.toolArgs, customer_id: (task.customerId % 40) + 1 },
    });
    expect(s.inspect(handMade, task).erroneous).toBe(true);
  });
});

describe('SafeShell', () => {
  const s = new CodingScenario();
  beforeAll(() => {
    s.setUp();
    s.beginTrial(s.createTask('1|coding|task|0'));
  });
  afterAll(() => s.tearDown());

  it('tokenizes with quotes and refuses shell metacharacters', () => {
    expect(tokenize(`grep -n "a b" 'c d' e\\ f`)).toEqual(['grep', '-n', 'a b', 'c d', 'e f']);
    expect(() => tokenize('ls; rm -rf /')).toThrow(/not supported/);
    expect(() => tokenize('cat $(whoami)')).toThrow(/not supported/);
    expect(() => tokenize('rm *')).toThrow(/not supported/);
    expect(() => tokenize("echo 'unterminated")).toThrow(/unterminated/);
    expect(tokenize('echo "a;b|c"')).toEqual(['echo', 'a;b|c']);
  });

  it('never leaves the workspace', () => {
    const sh = new SafeShell(s.workspace);
    expect(sh.run('cat /etc/passwd')).toMatchObject({ exitCode: 1 });
    expect(sh.run('cat /etc/passwd').stderr).toMatch(/relative/);
    expect(sh.run('rm -rf ../..').stderr).toMatch(/outside the workspace/);
    expect(sh.run('cp src/config.ts ../escaped.ts').stderr).toMatch(/outside/);
    expect(sh.run('rm -rf .').stderr).toMatch(/refusing/);
    expect(sh.run('bash -c id')).toMatchObject({ exitCode: 127 });
    expect(sh.run('curl http://example.com')).toMatchObject({ exitCode: 127 });
  });

  it('runs the supported commands against real files', () => {
    const sh = new SafeShell(s.workspace);
    expect(sh.run('ls src').stdout).toBe('config.ts\nindex.ts\nutils.ts\n');
    expect(sh.run('grep -n retries src/config.ts').stdout).toBe('4:  retries: 2,\n');
    expect(sh.run('mkdir -p a/b').exitCode).toBe(0);
    expect(sh.run('touch a/b/c.txt').exitCode).toBe(0);
    expect(sh.run('cp a/b/c.txt a/d.txt').exitCode).toBe(0);
    expect(sh.run('mv a/d.txt a/e.txt').exitCode).toBe(0);
    expect(sh.run('ls a').stdout).toBe('b\ne.txt\n');
    expect(sh.run('rm a').stderr).toMatch(/is a directory/);
    expect(sh.run('rm -r a').exitCode).toBe(0);
    expect(sh.run('rm a').stderr).toMatch(/No such file/);
    expect(sh.run('rm -f a').exitCode).toBe(0);
    expect(sh.run('echo hi there').stdout).toBe('hi there\n');
    expect(sh.run('ls -z').stderr).toMatch(/invalid option/);
  });
});
