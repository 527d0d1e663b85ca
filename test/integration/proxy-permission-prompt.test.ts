import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ClientHandlers,
  everythingServer,
  resultText,
  type StdioProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// Claude Code's --permission-prompt-tool contract, served by `hitloop proxy
// --permission-prompt` as the tool `approve`: input {tool_name, input,
// tool_use_id}; result text JSON {"behavior":"allow","updatedInput":{...}} or
// {"behavior":"deny","message":"..."}, through the same policy and approvals.

const tmp = tempDir();
const telemetryDb = join(tmp.dir, 'telemetry.db');
const handlers: ClientHandlers = {};
const asked: string[] = [];
let proxy: StdioProxy;

beforeAll(async () => {
  const config = writeConfig(tmp.dir, {
    mcpServers: { everything: everythingServer() },
    policy: {
      type: 'rules',
      default: 'ask',
      rules: [
        {
          id: 'no-rm-rf',
          tool: 'Bash',
          args: { command: { regex: 'rm\\s+-rf' } },
          effect: 'deny',
          reason: 'recursive deletes are never allowed',
        },
        { tool: 'Bash', args: { command: { regex: '^(ls|pwd|git status)\\b' } }, effect: 'allow' },
        { tool: 'echo', effect: 'allow' },
      ],
    },
    approval: { backend: 'elicitation', fallback: 'auto-reject' },
    telemetry: { db: telemetryDb },
  });
  proxy = await startStdioProxy(config, tmp.dir, {
    capabilities: { elicitation: {} },
    handlers,
    extraArgs: ['--permission-prompt'],
  });
});

afterAll(async () => {
  await proxy?.close();
  tmp.remove();
});

beforeEach(() => {
  asked.length = 0;
  handlers.elicit = () => {
    throw new Error('this test did not expect an approval request');
  };
});

async function permission(toolName: string, input: Record<string, unknown>, id = 't1') {
  const result = await proxy.client.callTool({
    name: 'approve',
    arguments: { tool_name: toolName, input, tool_use_id: id },
  });
  expect(result.isError).toBeFalsy();
  return JSON.parse(resultText(result)) as {
    behavior: 'allow' | 'deny';
    updatedInput?: Record<string, unknown>;
    message?: string;
  };
}

describe('hitloop proxy --permission-prompt', () => {
  it('lists the approve tool with the Claude Code input shape, next to the upstream tools', async () => {
    const { tools } = await proxy.client.listTools();
    const approve = tools.find((t) => t.name === 'approve');
    expect(approve).toBeDefined();
    expect(approve!.inputSchema.required).toEqual(['tool_name', 'input']);
    expect(tools.some((t) => t.name === 'echo')).toBe(true); // one server: no prefix
  });

  it('a denied Bash command: behavior deny with a message that says why', async () => {
    const answer = await permission('Bash', { command: 'rm -rf /' });
    expect(answer.behavior).toBe('deny');
    expect(answer.message).toContain('NOT executed');
    expect(answer.message).toContain('recursive deletes are never allowed');
    expect(answer.updatedInput).toBeUndefined();
    expect(asked).toHaveLength(0);
  });

  it('an allowed Bash command: behavior allow with the input unchanged', async () => {
    const answer = await permission('Bash', { command: 'ls -la', description: 'list files' });
    expect(answer).toEqual({
      behavior: 'allow',
      updatedInput: { command: 'ls -la', description: 'list files' },
    });
  });

  it('an edit approved with changes: updatedInput is the edited input', async () => {
    const edited = { file_path: '/repo/README.md', old_string: 'teh', new_string: 'the' };
    handlers.elicit = (request) => {
      asked.push(request.message);
      return {
        action: 'accept',
        content: { decision: 'approve', arguments: JSON.stringify(edited) },
      };
    };
    const answer = await permission(
      'Edit',
      { file_path: '/repo/README.md', old_string: 'teh', new_string: 'thee' },
      'toolu_42',
    );
    expect(answer).toEqual({ behavior: 'allow', updatedInput: edited });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain('Edit');
    expect(asked[0]).toContain('thee');
  });

  it('a rejected prompt: behavior deny naming the reviewer and the reason', async () => {
    handlers.elicit = () => ({
      action: 'accept',
      content: { decision: 'reject', reason: 'do not touch the lockfile' },
    });
    const answer = await permission('Write', { file_path: 'package-lock.json', content: '{}' });
    expect(answer.behavior).toBe('deny');
    expect(answer.message).toContain('rejected by elicitation:user');
    expect(answer.message).toContain('do not touch the lockfile');
  });

  it('records the prompts in telemetry as claude-code actions with their tool_use_id', async () => {
    await permission('Bash', { command: 'pwd' }, 'toolu_telemetry');
    const row = await waitUntil(() => {
      const db = new Database(telemetryDb, { readonly: true });
      try {
        return (
          db
            .prepare("SELECT payload FROM trace_events WHERE event_type = 'action_proposed'")
            .all() as Array<{ payload: string }>
        )
          .map((r) => JSON.parse(r.payload) as Record<string, unknown>)
          .find((p) => JSON.stringify(p.context_refs) === JSON.stringify(['toolu_telemetry']));
      } finally {
        db.close();
      }
    }, 'the permission prompt in telemetry');
    expect(row).toMatchObject({
      tool_name: 'Bash',
      tool_args: { command: 'pwd' },
      server: 'claude-code',
    });
  });

  it('the upstream tools are still gated by the same policy', async () => {
    const echo = await proxy.client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    expect(resultText(echo)).toBe('Echo: hi');
  });
});
