import { describe, expect, it } from 'vitest';
import { parseHitlResponse } from '../../shared/langgraph/langchain/index.js';

const two = [
  { toolName: 'send_email', allowedDecisions: ['approve', 'edit', 'reject'] as const },
  { toolName: 'delete_file', allowedDecisions: ['approve', 'reject'] as const },
];

describe('parseHitlResponse', () => {
  it('reads one decision per action request, in order', () => {
    expect(
      parseHitlResponse(
        {
          decisions: [
            { type: 'edit', editedAction: { name: 'send_email', args: { to: 'b' } } },
            { type: 'reject', message: 'no' },
          ],
        },
        two,
      ),
    ).toEqual([
      { type: 'edit', name: 'send_email', args: { to: 'b' } },
      { type: 'reject', message: 'no' },
    ]);
  });

  it.each([
    [
      'too few decisions',
      { decisions: [{ type: 'approve' }] },
      /1 decision\(s\) for 2 action request\(s\) \(send_email, delete_file\)/,
    ],
    [
      'too many decisions',
      { decisions: [{ type: 'approve' }, { type: 'approve' }, { type: 'approve' }] },
      /3 decision\(s\) for 2/,
    ],
    [
      'a type the config does not allow',
      {
        decisions: [
          { type: 'approve' },
          { type: 'edit', editedAction: { name: 'delete_file', args: {} } },
        ],
      },
      /decision 1 \('edit'\) is not allowed for 'delete_file'; allowed: approve, reject/,
    ],
    [
      'an Agent Inbox response',
      [{ type: 'response', args: 'later' }],
      /not a HITLResponse.*one decision per action request/,
    ],
    ['a bare decision', { type: 'approve' }, /not a HITLResponse/],
    [
      'an unknown type',
      { decisions: [{ type: 'maybe' }, { type: 'approve' }] },
      /decisions\.0\.type/,
    ],
  ])('refuses %s, naming what it expects', (_name, value, message) => {
    expect(() => parseHitlResponse(value, two)).toThrow(message);
  });
});
