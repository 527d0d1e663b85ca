import { describe, expect, it } from 'vitest';
import { parseResumeValue } from '../../shared/langgraph/resume-value.js';

const noEdit = { allow_accept: true, allow_edit: false, allow_respond: true, allow_ignore: true };

describe('parseResumeValue', () => {
  it('reads Agent Inbox HumanResponses, alone or in a one-element array', () => {
    expect(parseResumeValue({ type: 'accept', args: null })).toEqual({ kind: 'accept' });
    expect(parseResumeValue([{ type: 'ignore', args: null }])).toMatchObject({
      kind: 'reject',
      via: 'ignore',
    });
    expect(parseResumeValue({ type: 'response', args: 'use the staging db' })).toEqual({
      kind: 'reject',
      via: 'response',
      reason: 'use the staging db',
    });
    expect(parseResumeValue({ type: 'edit', args: { action: 't', args: { a: 1 } } })).toEqual({
      kind: 'edit',
      toolName: 't',
      args: { a: 1 },
    });
  });

  it('reads humanInTheLoopMiddleware decisions, alone or as { decisions: [one] }', () => {
    expect(parseResumeValue({ type: 'approve' })).toEqual({ kind: 'accept' });
    expect(parseResumeValue({ decisions: [{ type: 'reject', message: 'no' }] })).toEqual({
      kind: 'reject',
      via: 'reject',
      reason: 'no',
    });
    expect(parseResumeValue({ type: 'edit', editedAction: { name: 't', args: { b: 2 } } })).toEqual(
      {
        kind: 'edit',
        toolName: 't',
        args: { b: 2 },
      },
    );
  });

  it('rejects anything else with an error naming the accepted shapes', () => {
    for (const bad of [
      undefined,
      'yes',
      true,
      { type: 'approve_all' },
      { type: 'edit', args: 'x' },
      { decisions: [{ type: 'approve' }, { type: 'approve' }] },
    ]) {
      expect(() => parseResumeValue(bad)).toThrow(
        /unrecognised resume value.*HumanResponse.*humanInTheLoopMiddleware/s,
      );
    }
  });

  it('refuses an answer the interrupt config does not allow', () => {
    expect(() =>
      parseResumeValue({ type: 'edit', args: { action: 't', args: {} } }, noEdit),
    ).toThrow(/allow_edit is false/);
    expect(parseResumeValue({ type: 'accept', args: null }, noEdit)).toEqual({ kind: 'accept' });
  });
});
