import { describe, expect, it } from 'vitest';
import { proxyServerInfo } from '../../mcp-server/proxy/session/server-identity.js';

describe('proxyServerInfo: what the proxy calls itself', () => {
  it('in front of one server, answers with that server’s own name, title, version, website and icons', () => {
    const icons = [{ src: 'https://example.test/icon.png', mimeType: 'image/png' }];
    expect(
      proxyServerInfo(
        [
          {
            name: 'files',
            serverInfo: {
              name: 'secure-filesystem-server',
              title: 'Files',
              version: '0.2.0',
              websiteUrl: 'https://example.test',
              icons,
            },
          },
        ],
        'hitloop',
        '9.9.9',
      ),
    ).toEqual({
      name: 'secure-filesystem-server',
      title: 'Files',
      version: '0.2.0',
      description: 'files, gated by hitloop 9.9.9: calls that need a human wait for approval',
      websiteUrl: 'https://example.test',
      icons,
    });
  });

  it('in front of one server that has not answered (or answered nonsense), uses its config name', () => {
    expect(proxyServerInfo([{ name: 'files', serverInfo: undefined }], 'hitloop', '1.0.0')).toEqual(
      {
        name: 'files',
        version: '1.0.0',
        description: 'files, gated by hitloop 1.0.0: calls that need a human wait for approval',
      },
    );
    const odd = proxyServerInfo(
      [{ name: 'files', serverInfo: { name: '  ', title: 42, version: null, icons: 'x' } }],
      'hitloop',
      '1.0.0',
    );
    expect(odd).toEqual({
      name: 'files',
      version: '1.0.0',
      description: expect.stringContaining('files, gated by hitloop'),
    });
  });

  it('keeps what an upstream says about itself to a sane size', () => {
    const info = proxyServerInfo(
      [{ name: 'x', serverInfo: { name: 'n'.repeat(10_000), version: '1' } }],
      'hitloop',
      '1.0.0',
    );
    expect(info.name).toHaveLength(200);
  });

  it('in front of several servers (or none), answers with the name the client knows it by', () => {
    const two = proxyServerInfo(
      [
        { name: 'everything', serverInfo: { name: 'mcp-servers/everything', version: '2' } },
        { name: 'fs', serverInfo: { name: 'secure-filesystem-server', version: '1' } },
      ],
      'team-tools',
      '1.0.0',
    );
    expect(two).toEqual({
      name: 'team-tools',
      version: '1.0.0',
      description:
        'everything, fs, gated by hitloop 1.0.0: calls that need a human wait for approval',
    });
    expect(two.title).toBeUndefined();
    expect(proxyServerInfo([], 'hitloop', '1.0.0')).toEqual({
      name: 'hitloop',
      version: '1.0.0',
      description: 'hitloop 1.0.0 approval proxy',
    });
  });
});
