import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ActionInput, createAction } from '../../shared/models/action.js';
import { loadPolicyFile, policyFromJson } from '../../shared/policies/config.js';
import { RulesPolicy, toolGlobToRegExp } from '../../shared/policies/rules.js';
import type { RulesDocument } from '../../shared/policies/rules-schema.js';
import { configError } from '../helpers/config-error.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const act = (input: Partial<ActionInput> = {}) =>
  createAction({ toolName: 'noop', toolArgs: {}, ...input });

describe('RulesPolicy tool globs', () => {
  it('matches * and ? over the whole name, and . literally', () => {
    expect(toolGlobToRegExp('fs__write_*').test('fs__write_file')).toBe(true);
    expect(toolGlobToRegExp('fs__write_*').test('fs__read_file')).toBe(false);
    expect(toolGlobToRegExp('*delete*').test('bulk_delete_records')).toBe(true);
    expect(toolGlobToRegExp('get_?').test('get_x')).toBe(true);
    expect(toolGlobToRegExp('get_?').test('get_xy')).toBe(false);
    expect(toolGlobToRegExp('a.b').test('aXb')).toBe(false);
    expect(toolGlobToRegExp('write').test('rewrite_file')).toBe(false);
    expect(toolGlobToRegExp('Write_*').test('write_file')).toBe(false);
  });
  it('understands {a,b} alternatives and [a-z] sets, as argument globs do', () => {
    const reads = toolGlobToRegExp('{read,list}_*');
    expect(reads.test('read_file')).toBe(true);
    expect(reads.test('list_directory')).toBe(true);
    expect(reads.test('write_file')).toBe(false);
    expect(reads.test('xread_file')).toBe(false);
    expect(toolGlobToRegExp('get_[a-c]').test('get_b')).toBe(true);
    expect(toolGlobToRegExp('get_[a-c]').test('get_d')).toBe(false);
  });
  it('lets * cross / and . in tool names, which are not paths', () => {
    // A deny rule on *delete* must still catch a tool whose name has a slash.
    expect(toolGlobToRegExp('*delete*').test('admin/delete_all')).toBe(true);
    expect(toolGlobToRegExp('fs__*').test('fs__a.b/c')).toBe(true);
    expect(toolGlobToRegExp('*').test('.hidden')).toBe(true);
  });
  it('applies a rule whose tool is a {read,list}_* glob', () => {
    const p = new RulesPolicy({
      default: 'ask',
      rules: [{ tool: '{read,list}_*', effect: 'allow' }],
    });
    expect(p.evaluate(act({ toolName: 'read_file', server: 'fs' })).verdict).toBe('allow');
    expect(p.evaluate(act({ toolName: 'list_directory', server: 'fs' })).verdict).toBe('allow');
    expect(p.evaluate(act({ toolName: 'write_file', server: 'fs' })).verdict).toBe('ask');
  });
  it('refuses a tool glob starting with !, naming the field', () => {
    const err = configError(() =>
      policyFromJson({ rules: [{ tool: ['read_*', '!fs__*'], effect: 'allow' }] }, 'r.json'),
    );
    expect(err.field).toBe('rules[0].tool[1]');
    expect(err.problem).toContain('cannot start with "!"');
  });
  it('tries both the bare tool name and SERVER__TOOL', () => {
    const p = new RulesPolicy({
      default: 'allow',
      rules: [{ tool: 'fs__write_*', effect: 'ask' }],
    });
    expect(p.evaluate(act({ toolName: 'write_file', server: 'fs' })).verdict).toBe('ask');
    expect(p.evaluate(act({ toolName: 'fs__write_file' })).verdict).toBe('ask');
    expect(p.evaluate(act({ toolName: 'write_file', server: 'other' })).verdict).toBe('allow');
  });
  it('restricts a rule to servers when given', () => {
    const p = new RulesPolicy({
      default: 'allow',
      rules: [{ server: ['github'], tool: '*', effect: 'ask' }],
    });
    expect(p.evaluate(act({ toolName: 'create_issue', server: 'github' })).verdict).toBe('ask');
    expect(p.evaluate(act({ toolName: 'create_issue', server: 'gitlab' })).verdict).toBe('allow');
    expect(p.evaluate(act({ toolName: 'create_issue' })).verdict).toBe('allow');
  });
});

describe('RulesPolicy precedence', () => {
  const doc: RulesDocument = {
    default: 'ask',
    rules: [
      { id: 'allow-tmp', tool: 'write_*', args: { path: { glob: '/tmp/**' } }, effect: 'allow' },
      { id: 'ask-big', tool: 'write_*', args: { content: { regex: '.{20,}' } }, effect: 'ask' },
      {
        id: 'no-secrets',
        tool: '*',
        args: { path: { glob: '**/.env' } },
        effect: 'deny',
        reason: 'never touch .env',
      },
    ],
  };
  const p = new RulesPolicy(doc);

  it('deny beats ask beats allow, whatever the file order', () => {
    expect(
      p.evaluate(act({ toolName: 'write_file', toolArgs: { path: '/tmp/a', content: 'x' } })),
    ).toMatchObject({
      verdict: 'allow',
      rule: 'allow-tmp',
    });
    expect(
      p.evaluate(
        act({ toolName: 'write_file', toolArgs: { path: '/tmp/a', content: 'x'.repeat(30) } }),
      ),
    ).toMatchObject({ verdict: 'ask', rule: 'ask-big' });
    expect(
      p.evaluate(
        act({ toolName: 'write_file', toolArgs: { path: '/tmp/.env', content: 'x'.repeat(30) } }),
      ),
    ).toMatchObject({ verdict: 'deny', rule: 'no-secrets', reason: 'never touch .env' });
  });
  it('falls back to the default and says so', () => {
    expect(
      p.evaluate(act({ toolName: 'write_file', toolArgs: { path: '/home/u/a', content: 'x' } })),
    ).toMatchObject({
      verdict: 'ask',
      rule: 'default',
    });
    const allowByDefault = new RulesPolicy({ default: 'allow', rules: [] });
    expect(allowByDefault.evaluate(act()).reason).toContain('default is allow');
  });
  it('reports the first rule of the winning effect and labels unnamed rules by index', () => {
    const q = new RulesPolicy({
      rules: [
        { tool: 'x', effect: 'allow' },
        { tool: 'x', effect: 'deny' },
        { tool: '*', effect: 'deny' },
      ],
    });
    expect(q.evaluate(act({ toolName: 'x' })).rule).toBe('rules[1]');
  });
  it('gives the same answer on a repeated call (the per-tool cache is transparent)', () => {
    const a = act({ toolName: 'write_file', toolArgs: { path: '/tmp/ok' } });
    const b = act({ toolName: 'write_file', toolArgs: { path: '/srv/.env' } });
    for (let i = 0; i < 3; i++) {
      expect(p.evaluate(a).verdict).toBe('allow');
      expect(p.evaluate(b).verdict).toBe('deny');
    }
  });
});

describe('RulesPolicy argument matchers', () => {
  const one = (matcher: object, value: unknown) =>
    new RulesPolicy({
      default: 'allow',
      rules: [{ tool: '*', args: { v: matcher }, effect: 'deny' }],
    }).evaluate(act({ toolArgs: value === undefined ? {} : { v: value } })).verdict === 'deny';

  it('glob matches normalised paths, so .. cannot escape', () => {
    expect(one({ glob: '/tmp/**' }, '/tmp/a/b.txt')).toBe(true);
    expect(one({ glob: '/tmp/**' }, '/tmp/../etc/passwd')).toBe(false);
    expect(one({ glob: '/etc/**' }, '/tmp/../etc/passwd')).toBe(true);
    expect(one({ glob: '/etc/**' }, '\\etc\\shadow')).toBe(true);
    expect(one({ glob: '**/*.pem' }, '/home/u/.ssh/key.pem')).toBe(true);
    expect(one({ glob: '/tmp/**' }, 42)).toBe(false);
  });
  it('regex with and without flags', () => {
    expect(one({ regex: '^rm\\s+-rf' }, 'rm -rf /')).toBe(true);
    expect(one({ regex: '^rm\\s+-rf' }, 'RM -rf /')).toBe(false);
    expect(one({ regex: '^rm\\s+-rf', flags: 'i' }, 'RM -rf /')).toBe(true);
    expect(one({ regex: 'x' }, { nested: 'x' })).toBe(false);
  });
  it('numeric comparisons on numbers and numeric strings', () => {
    expect(one({ gt: 100 }, 101)).toBe(true);
    expect(one({ gt: 100 }, 100)).toBe(false);
    expect(one({ gte: 100 }, 100)).toBe(true);
    expect(one({ lt: 0 }, -1)).toBe(true);
    expect(one({ lte: 0 }, '0')).toBe(true);
    expect(one({ gt: 10, lt: 20 }, 15)).toBe(true);
    expect(one({ gt: 10, lt: 20 }, 25)).toBe(false);
    expect(one({ gt: 100 }, 'many')).toBe(false);
  });
  it('equals, in and exists', () => {
    expect(one({ equals: { a: [1] } }, { a: [1] })).toBe(true);
    expect(one({ equals: true }, 'true')).toBe(false);
    expect(one({ in: ['main', 'master'] }, 'master')).toBe(true);
    expect(one({ in: ['main', 'master'] }, 'dev')).toBe(false);
    expect(one({ exists: true }, undefined)).toBe(false);
    expect(one({ exists: false }, undefined)).toBe(true);
  });
  it('dotted argument paths reach nested values', () => {
    const p = new RulesPolicy({
      default: 'allow',
      rules: [{ tool: '*', args: { 'options.recursive': { equals: true } }, effect: 'ask' }],
    });
    expect(p.evaluate(act({ toolArgs: { options: { recursive: true } } })).verdict).toBe('ask');
    expect(p.evaluate(act({ toolArgs: { options: null } })).verdict).toBe('allow');
  });
});

describe('RulesPolicy risk and MCP annotations', () => {
  const doc: RulesDocument = {
    default: 'allow',
    trustedServers: ['fs'],
    rules: [
      { tool: '*', risk: 'high', effect: 'ask', reason: 'destructive' },
      { tool: '*', risk: ['low'], effect: 'allow', id: 'read-only' },
    ],
  };
  const p = new RulesPolicy(doc);

  it('takes risk from annotations only for trusted servers', () => {
    const destructive = { readOnlyHint: false, destructiveHint: true };
    expect(p.evaluate(act({ server: 'fs', annotations: destructive }))).toMatchObject({
      verdict: 'ask',
      riskClass: 'high',
    });
    // An untrusted server cannot raise or lower risk with hints.
    expect(
      p.evaluate(act({ server: 'evil', annotations: destructive, riskClass: 'low' })).riskClass,
    ).toBe('low');
    expect(
      p.evaluate(act({ server: 'evil', annotations: { readOnlyHint: true }, riskClass: 'high' }))
        .verdict,
    ).toBe('ask');
    expect(
      p.evaluate(act({ server: 'fs', annotations: { readOnlyHint: true }, riskClass: 'high' })),
    ).toMatchObject({
      verdict: 'allow',
      rule: 'read-only',
      riskClass: 'low',
    });
  });
  it('treats a trusted non-read-only tool as destructive unless it says otherwise (MCP defaults)', () => {
    expect(p.evaluate(act({ server: 'fs', annotations: { readOnlyHint: false } })).riskClass).toBe(
      'high',
    );
    expect(
      p.evaluate(act({ server: 'fs', annotations: { destructiveHint: false } })).riskClass,
    ).toBe('medium');
  });
});

describe('policy config files', () => {
  const dir = makeTempDir('hitloop-policy-');
  const write = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  };

  it('loads a policy under a "policy" key, a bare policy, or a bare rules document', () => {
    expect(
      loadPolicyFile(write('a.json', '{"policy":{"type":"risk_based","amountThreshold":5}}')).name,
    ).toBe('risk_based');
    expect(loadPolicyFile(write('b.json', '{"type":"always_approve"}')).name).toBe(
      'always_approve',
    );
    expect(loadPolicyFile(write('c.json', '{"rules":[{"tool":"x","effect":"deny"}]}')).name).toBe(
      'rules',
    );
    expect(
      loadPolicyFile(write('d.json', '{"policy":{"type":"audit_plus_escalate","seed":1}}')).name,
    ).toBe('audit_plus_escalate');
  });
  it('names the file, the field and the fix for an invalid effect', () => {
    const file = write(
      'e.json',
      '{"policy":{"type":"rules","rules":[{"tool":"x","effect":"allow"},{"tool":"y","effect":"permit"}]}}',
    );
    const err = configError(() => loadPolicyFile(file));
    expect(err.file).toBe(file);
    expect(err.field).toBe('policy.rules[1].effect');
    expect(err.message).toContain('"allow", "ask", "deny"');
  });
  it('names the field of a bad regex and of an unknown key', () => {
    const bad = configError(() =>
      policyFromJson(
        { rules: [{ tool: 'x', effect: 'deny', args: { p: { regex: '(' } } }] },
        'r.json',
      ),
    );
    expect(bad.field).toBe('rules[0].args.p.regex');
    expect(bad.problem).toContain('regular expression');
    const unknown = configError(() =>
      policyFromJson(
        { type: 'rules', rules: [{ tool: 'x', effect: 'deny', efect: 'x' }] },
        'r.json',
      ),
    );
    expect(unknown.field).toBe('rules[0]');
    expect(unknown.fix).toContain('efect');
  });
  it('reports syntax errors, missing files and a missing type clearly', () => {
    expect(configError(() => loadPolicyFile(write('f.json', '{"rules": [}'))).problem).toContain(
      'not valid JSON',
    );
    expect(configError(() => loadPolicyFile(join(dir, 'nope.json'))).problem).toBe(
      'file not found',
    );
    const noType = configError(() => policyFromJson({ policy: { amountThreshold: 3 } }, 'g.json'));
    expect(noType.field).toBe('policy.type');
    expect(noType.fix).toContain('risk_based');
    expect(configError(() => policyFromJson({ type: 'yolo' }, 'h.json')).field).toBe('type');
  });
});
