import { describe, expect, it } from 'vitest';
import {
  exposedToolName,
  splitExposedName,
  toolCallAction,
} from '../../mcp-server/proxy/session/tool-call.js';

// The proxy and `hitloop policy check` name tools and build the Action with
// these functions; splitting must invert the proxy's naming exactly.

const prefixed = { prefixNames: true, separator: '__' };
const bare = { prefixNames: false, separator: '__' };

describe('splitExposedName', () => {
  it('inverts exposedToolName for every server, with any separator', () => {
    for (const naming of [prefixed, { prefixNames: true, separator: '.' }, bare]) {
      for (const [server, tool] of [
        ['fs', 'write_file'],
        ['my-db', 'run__query'],
        ['fs', 'x.y'],
      ] as const) {
        const exposed = exposedToolName(server, tool, naming);
        const servers = naming.prefixNames ? ['fs', 'my-db'] : [server];
        expect(splitExposedName(exposed, servers, naming)).toEqual({ server, tool });
      }
    }
  });
  it('takes --server as given, for a bare or an already prefixed name', () => {
    expect(splitExposedName('write_file', ['fs', 'b'], prefixed, 'fs')).toEqual({
      server: 'fs',
      tool: 'write_file',
    });
    expect(splitExposedName('fs__write_file', ['fs', 'b'], prefixed, 'fs')).toEqual({
      server: 'fs',
      tool: 'write_file',
    });
    expect(splitExposedName('write_file', ['fs', 'b'], bare, 'b')).toEqual({
      server: 'b',
      tool: 'write_file',
    });
  });
  it('says what is wrong when the name cannot be placed', () => {
    expect(splitExposedName('nope__x', ['fs'], prefixed)).toContain('SERVER__TOOL');
    expect(splitExposedName('x', ['fs', 'b'], bare)).toContain('--server');
    expect(splitExposedName('x', ['fs'], prefixed, 'other')).toContain('no server named "other"');
  });
});

describe('toolCallAction', () => {
  const readOnly = { name: 'read_file', annotations: { readOnlyHint: true } };
  it('is medium risk unless a trusted server annotates the tool', () => {
    expect(toolCallAction({ name: 'fs', trusted: false }, readOnly, {}).riskClass).toBe('medium');
    expect(toolCallAction({ name: 'fs', trusted: true }, readOnly, {}).riskClass).toBe('low');
    const action = toolCallAction({ name: 'fs', trusted: true }, { name: 'rm' }, { path: '/x' });
    expect(action).toMatchObject({ toolName: 'rm', server: 'fs', toolArgs: { path: '/x' } });
    expect(action.riskClass).toBe('medium');
  });
});
