import { describe, expect, it } from 'vitest';
import type { JsonRpcRequest } from '../../mcp-server/proxy/jsonrpc/messages.js';
import {
  checkModernEnvelope,
  encodeModernResult,
  httpStatusOfModernError,
  isModernRequest,
  removedMethodError,
} from '../../mcp-server/proxy/session/protocol-2026.js';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
};
const request = (method: string, params?: Record<string, unknown>): JsonRpcRequest => ({
  jsonrpc: '2.0',
  id: 1,
  method,
  ...(params ? { params } : {}),
});
const SERVER = { name: 'hitloop-proxy', version: '0.1.0' };

describe('the 2026-07-28 wire', () => {
  it('tells modern requests from 2025-era ones by the envelope, and server/discover always', () => {
    expect(isModernRequest(request('tools/list', { _meta: META }))).toBe(true);
    expect(isModernRequest(request('server/discover'))).toBe(true);
    expect(isModernRequest(request('tools/list', { _meta: { progressToken: 1 } }))).toBe(false);
    expect(isModernRequest(request('initialize', { protocolVersion: '2025-11-25' }))).toBe(false);
  });

  it('checks the envelope: missing fields, another version, a disagreeing header', () => {
    const missing = checkModernEnvelope(request('tools/list', {}));
    expect('error' in missing && missing.error.error.code).toBe(-32602);
    const noCaps = checkModernEnvelope(
      request('tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }),
    );
    expect('error' in noCaps && noCaps.error.error.message).toMatch(/clientCapabilities/);
    const other = checkModernEnvelope(
      request('tools/list', {
        _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2030-01-01' },
      }),
    );
    expect('error' in other && other.error.error).toMatchObject({
      code: -32022,
      data: { requested: '2030-01-01', supported: expect.arrayContaining(['2026-07-28']) },
    });
    const header = checkModernEnvelope(request('tools/list', { _meta: META }), '2025-11-25');
    expect('error' in header && header.error.error.code).toBe(-32020);
    const ok = checkModernEnvelope(request('tools/list', { _meta: META }), '2026-07-28');
    expect(ok).toEqual({
      envelope: { protocolVersion: '2026-07-28', clientCapabilities: { elicitation: {} } },
    });
  });

  it('refuses the methods the revision removed, with their HTTP status', () => {
    for (const method of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe']) {
      const error = removedMethodError(request(method, { _meta: META }));
      expect(error?.error.code).toBe(-32601);
      expect(httpStatusOfModernError(error!.error.code)).toBe(404);
    }
    expect(removedMethodError(request('tools/call', { _meta: META }))).toBeUndefined();
    expect(httpStatusOfModernError(-32602)).toBe(400);
    expect(httpStatusOfModernError(-32603)).toBe(200);
  });

  it('shapes results: resultType, cache hints on lists only, the proxy in _meta, no execution on tools', () => {
    const list = encodeModernResult(
      'tools/list',
      {
        tools: [
          { name: 't', inputSchema: { type: 'object' }, execution: { taskSupport: 'optional' } },
        ],
      },
      SERVER,
    );
    expect(list).toEqual({
      tools: [{ name: 't', inputSchema: { type: 'object' } }],
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { 'io.modelcontextprotocol/serverInfo': SERVER },
    });
    const call = encodeModernResult('tools/call', { content: [], _meta: { x: 1 } }, SERVER);
    expect(call).toEqual({
      content: [],
      resultType: 'complete',
      _meta: { x: 1, 'io.modelcontextprotocol/serverInfo': SERVER },
    });
    // input_required stays what it is on the methods that may return it, and only there.
    const round = encodeModernResult(
      'tools/call',
      { resultType: 'input_required', requestState: 's' },
      SERVER,
    );
    expect(round.resultType).toBe('input_required');
    expect(round).not.toHaveProperty('ttlMs');
    expect(
      encodeModernResult('tools/list', { tools: [], resultType: 'input_required' }, SERVER)
        .resultType,
    ).toBe('complete');
  });
});
