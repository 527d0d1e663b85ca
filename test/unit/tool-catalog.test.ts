import { beforeAll, describe, expect, it } from 'vitest';
import { loadValidators, ToolCatalog } from '../../mcp-server/proxy/session/tool-catalog.js';
import type { UpstreamServer } from '../../mcp-server/proxy/upstream/upstream-server.js';

// Only a server's name and tool list matter to the catalog.
const server = (name: string, tools: UpstreamServer['tools']) =>
  ({ name, tools }) as unknown as UpstreamServer;

const schema = (required: string) => ({
  $id: 'urn:example:input',
  type: 'object',
  properties: { [required]: { type: 'string' } },
  required: [required],
});

beforeAll(loadValidators);

describe('ToolCatalog.validate', () => {
  it('checks each tool against its own schema when two schemas share an $id', () => {
    const catalog = new ToolCatalog({ prefixNames: true, separator: '__' });
    catalog.rebuild([
      server('a', [{ name: 'go', inputSchema: schema('path') }]),
      server('b', [{ name: 'go', inputSchema: schema('url') }]),
    ]);
    expect(catalog.validate('a__go', { path: '/tmp' })).toEqual([]);
    expect(catalog.validate('b__go', { url: 'https://example.com' })).toEqual([]);
    expect(catalog.validate('b__go', { path: '/tmp' })[0]).toMatch(/url/);
  });

  it('follows a schema that changed under the same $id', () => {
    const catalog = new ToolCatalog({ prefixNames: false, separator: '__' });
    catalog.rebuild([server('a', [{ name: 'go', inputSchema: schema('first') }])]);
    expect(catalog.validate('go', { first: 'x' })).toEqual([]);
    catalog.rebuild([server('a', [{ name: 'go', inputSchema: schema('second') }])]);
    expect(catalog.validate('go', { second: 'x' })).toEqual([]);
    expect(catalog.validate('go', { first: 'x' })[0]).toMatch(/second/);
  });
});
