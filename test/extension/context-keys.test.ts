import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type * as vscode from 'vscode';
import { ClosableOutput } from '../../extension/src/closable-output.js';
import {
  CONTEXT_KEYS,
  type ContextKey,
  ContextKeys,
  contextValues,
} from '../../extension/src/context-keys.js';
import { routingState } from '../../extension/src/routing-state.js';
import { wrapFile } from '../../mcp-server/wrap/files.js';
import { launcherFor } from '../../mcp-server/wrap/wrap.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const none = {
  pending: 0,
  pendingWrites: 0,
  selected: 0,
  mcpJsonFiles: 0,
  routedFiles: 0,
  remoteHubs: 0,
};

describe('context keys: what the Command Palette shows', () => {
  it('with nothing going on, every key is false (so Approve Selected & co. are hidden)', () => {
    const values = contextValues(none);
    expect(Object.keys(values).sort()).toEqual([...CONTEXT_KEYS].sort());
    expect(Object.values(values).every((v) => v === false)).toBe(true);
  });

  it('follows pending calls, file writes, routing and remote hubs', () => {
    expect(
      contextValues({
        pending: 2,
        pendingWrites: 1,
        selected: 0,
        mcpJsonFiles: 1,
        routedFiles: 1,
        remoteHubs: 1,
      }),
    ).toEqual({
      'hitloop.hasPending': true,
      'hitloop.hasPendingWrite': true,
      'hitloop.hasSelection': false,
      'hitloop.hasMcpJson': true,
      'hitloop.routed': true,
      'hitloop.hasRemoteHubs': true,
    });
  });

  it('a selection counts only while something waits', () => {
    expect(contextValues({ ...none, selected: 2, pending: 2 })['hitloop.hasSelection']).toBe(true);
    expect(contextValues({ ...none, selected: 2, pending: 0 })['hitloop.hasSelection']).toBe(false);
  });

  it('sets every key once at start, then only the keys that changed', () => {
    const calls: Array<[ContextKey, boolean]> = [];
    const keys = new ContextKeys((key, value) => calls.push([key, value]));
    expect(calls).toHaveLength(CONTEXT_KEYS.length);
    calls.length = 0;
    keys.update({ pending: 1 });
    expect(calls).toEqual([['hitloop.hasPending', true]]);
    calls.length = 0;
    keys.update({ pending: 3 }); // still true: nothing to send
    expect(calls).toEqual([]);
    keys.update({ selected: 1 });
    expect(calls).toEqual([['hitloop.hasSelection', true]]);
    calls.length = 0;
    keys.update({ pending: 0 }); // decided: the selection goes with it
    expect(calls).toEqual([
      ['hitloop.hasPending', false],
      ['hitloop.hasSelection', false],
    ]);
    expect(keys.current.selected).toBe(1);
  });
});

describe('routing state: whether Route and Undo can act', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const folder = (mcpJson?: string) => {
    const dir = makeTempDir('hitloop-routing-');
    dirs.push(dir);
    if (mcpJson !== undefined) {
      mkdirSync(join(dir, '.vscode'));
      writeFileSync(join(dir, '.vscode', 'mcp.json'), mcpJson);
    }
    return dir;
  };

  it('counts folders with a .vscode/mcp.json, and those routed through hitloop (by the real wrap)', () => {
    const plain = folder(
      JSON.stringify({ servers: { files: { command: 'npx', args: ['-y', 'srv', '.'] } } }),
    );
    const routed = folder(
      JSON.stringify({ servers: { memory: { command: 'npx', args: ['-y', 'mem'] } } }),
    );
    wrapFile(join(routed, '.vscode', 'mcp.json'), { launcher: launcherFor('hitloop') });
    const empty = folder();
    const broken = folder('{ not json');
    expect(routingState([plain, routed, empty, broken])).toEqual({
      mcpJsonFiles: 3,
      routedFiles: 1,
    });
    expect(routingState([])).toEqual({ mcpJsonFiles: 0, routedFiles: 0 });
  });
});

describe('the output channel after the window reloads', () => {
  /** Behaves as VS Code's: throws once closed. */
  function channel() {
    const lines: string[] = [];
    let closed = false;
    const check = () => {
      if (closed) throw new Error('Channel has been closed');
    };
    const fake = {
      name: 'hitloop',
      lines,
      append: (v: string) => {
        check();
        lines.push(v);
      },
      appendLine: (v: string) => {
        check();
        lines.push(`${v}\n`);
      },
      replace: () => check(),
      clear: () => check(),
      show: () => check(),
      hide: () => check(),
      dispose: () => {
        closed = true;
      },
    };
    return fake;
  }

  it('writes while open, and drops writes (never throws) once disposed', () => {
    const raw = channel();
    const output = new ClosableOutput(raw as unknown as vscode.OutputChannel);
    output.appendLine('routed');
    expect(raw.lines).toEqual(['routed\n']);
    output.dispose();
    expect(output.isClosed).toBe(true);
    expect(() => output.appendLine('late line from Route')).not.toThrow();
    expect(() => output.show(true)).not.toThrow();
    expect(raw.lines).toEqual(['routed\n']);
  });

  it('drops writes when VS Code closed the channel first', () => {
    const raw = channel();
    const output = new ClosableOutput(raw as unknown as vscode.OutputChannel);
    raw.dispose(); // the window is reloading
    expect(() => output.appendLine('late')).not.toThrow();
    expect(output.isClosed).toBe(true);
    expect(() => output.dispose()).not.toThrow();
  });
});
