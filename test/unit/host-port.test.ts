import { describe, expect, it } from 'vitest';
import { parseHostPort, splitHostPort } from '../../mcp-server/proxy/host-port.js';
import { ConfigError } from '../../shared/errors.js';

describe('HOST:PORT parsing (--http, --listen, approval.webhook.listen)', () => {
  it('reads a bare port as loopback, and host or [v6] with a port', () => {
    expect(splitHostPort('8931')).toEqual({ host: '127.0.0.1', port: 8931 });
    expect(splitHostPort(' 0.0.0.0:8700 ')).toEqual({ host: '0.0.0.0', port: 8700 });
    expect(splitHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(splitHostPort('hub.internal:65535')).toEqual({ host: 'hub.internal', port: 65535 });
  });

  it('refuses what is not HOST:PORT, or a port out of range', () => {
    for (const bad of [
      '',
      'nope',
      'host:',
      ':',
      'a:b',
      'host:65536',
      '::1:80',
      '[::1]',
      '1.2.3.4:-1',
    ])
      expect(splitHostPort(bad), bad).toBeUndefined();
    expect(() => parseHostPort('host:99999', '--listen')).toThrow(ConfigError);
    expect(() => parseHostPort('host:99999', '--listen')).toThrow(/--listen.*expected HOST:PORT/s);
  });
});
