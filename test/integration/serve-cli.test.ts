import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';
import { startServe } from '../helpers/serve.js';

// `hitloop serve` as a user runs it: bad input exits 2 with the flag and the
// fix and no stack trace; the token it makes is kept, private, across restarts.

const tmp = tempDir('hitloop-serve-cli-');
afterAll(() => tmp.remove());

function serve(args: string[], env: Record<string, string> = {}) {
  const home = join(tmp.dir, 'home-bad');
  return runHitloop(['serve', ...args], { env: { HITLOOP_HOME: home, ...env } });
}

function expectUsageError(r: ReturnType<typeof runHitloop>, ...parts: string[]) {
  expect(r.code, r.stderr).toBe(2);
  for (const p of parts) expect(r.stderr).toContain(p);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('hitloop serve: bad input', () => {
  it('names an unreachable store (password masked) and how to fix it', () => {
    const r = serve([
      '--store',
      'postgres://alice:s3cret@127.0.0.1:1/approvals',
      '--listen',
      '127.0.0.1:0',
    ]);
    expectUsageError(
      r,
      '--store',
      'postgres://alice:****@127.0.0.1:1/approvals',
      'is PostgreSQL running',
    );
    expect(r.stderr).not.toContain('s3cret');
  });

  it('refuses an unknown store type, a bad --listen, a short token and a bad --public-url', () => {
    expectUsageError(serve(['--store', 'mongodb://x/y']), '--store', 'unknown store type');
    expectUsageError(serve(['--listen', 'nope']), '--listen', 'HOST:PORT');
    expectUsageError(
      serve(['--listen', '127.0.0.1:0'], { HITLOOP_HUB_TOKEN: 'short' }),
      'HITLOOP_HUB_TOKEN',
      'shorter than',
    );
    expectUsageError(serve(['--public-url', 'not a url']), '--public-url');
    expectUsageError(
      serve(['--listen', '127.0.0.1:0'], { HITLOOP_WEBHOOK_SECRET: 'short' }),
      'HITLOOP_WEBHOOK_SECRET',
    );
  });

  it('says when the address is taken', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (busy.address() as AddressInfo).port;
      const store = join(tmp.dir, 'busy.db');
      expectUsageError(
        serve(['--store', store, '--listen', `127.0.0.1:${port}`]),
        '--listen',
        'already in use',
      );
    } finally {
      busy.close();
    }
  });
});

describe('hitloop serve: the token', () => {
  it('makes one, keeps it readable only by the user, and uses it again after a restart', async () => {
    const home = join(tmp.dir, 'home-token');
    const store = join(tmp.dir, 'token.db');
    const first = await startServe(store, home);
    const kept = join(home, 'serve-token');
    try {
      expect(readFileSync(kept, 'utf8').trim()).toBe(first.token);
      expect(statSync(kept).mode & 0o777).toBe(0o600);
      expect((await first.client.info()).name).toBe('team hub');
    } finally {
      await first.stop();
    }
    const second = await startServe(store, home);
    try {
      expect(second.token).toBe(first.token);
    } finally {
      await second.stop();
    }
  });

  it('takes the token from --token-file', async () => {
    const home = join(tmp.dir, 'home-file');
    mkdirSync(home, { recursive: true });
    const file = join(tmp.dir, 'token.txt');
    writeFileSync(file, 'a-long-token-from-a-file-0123456789\n', { mode: 0o600 });
    const s = await startServe(join(tmp.dir, 'file.db'), home, {}, ['--token-file', file]);
    try {
      expect(s.token).toBe('a-long-token-from-a-file-0123456789');
    } finally {
      await s.stop();
    }
  });
});
