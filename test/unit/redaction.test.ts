import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProxyConfig } from '../../mcp-server/proxy/config/load.js';
import { createAction } from '../../shared/models/action.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { isDefaultSecretKey, redactSecrets, secretKeyTest } from '../../shared/util/redact.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { configError } from '../helpers/config-error.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// Secrets in tool arguments are stored at rest as sha256:<hex> of their value
// (telemetry, settled records in approvals.db), by default for keys such as
// token, secret, password and api_key. And the files holding them are 0600,
// also when they existed with a wider mode.

const SECRET = 'sk-live-0123456789';
const ARGS = {
  url: 'https://api.example.com',
  api_key: SECRET,
  headers: { Authorization: `Bearer ${SECRET}`, accept: 'json' },
  max_tokens: 100,
};
const hashed = (v: unknown) => `sha256:${argsHash(v)}`;
const dir = () => makeTempDir('hitloop-redact-');
const mode = (file: string) => statSync(file).mode & 0o777;

describe('which keys are secrets', () => {
  it('matches whole words of a key by default, in any case style', () => {
    for (const key of [
      'apiKey',
      'X-Api-Key',
      'github_token',
      'DB_PASSWORD',
      'clientSecret',
      'Cookie',
    ])
      expect(isDefaultSecretKey(key), key).toBe(true);
    for (const key of ['max_tokens', 'author', 'keyboard', 'path', 'content', 'secretary'])
      expect(isDefaultSecretKey(key), key).toBe(false);
  });

  it('takes a regular expression instead, or false for none; a bad one is a clear error', () => {
    expect(secretKeyTest('^(pin|otp)$')?.('PIN')).toBe(true);
    expect(secretKeyTest('^(pin|otp)$')?.('api_key')).toBe(false);
    expect(secretKeyTest(false)).toBeUndefined();
    expect(() => secretKeyTest('(')).toThrow(/redactKeys: "\(" is not a regular expression/);
  });

  it('hashes at any depth, stably, and leaves the input alone', () => {
    const out = redactSecrets(ARGS, isDefaultSecretKey);
    expect(out).toEqual({
      url: ARGS.url,
      api_key: hashed(SECRET),
      headers: { Authorization: hashed(`Bearer ${SECRET}`), accept: 'json' },
      max_tokens: 100,
    });
    expect(ARGS.api_key).toBe(SECRET);
    // Twice is the same as once.
    expect(redactSecrets(out, isDefaultSecretKey)).toEqual(out);
  });
});

describe('telemetry', () => {
  it('stores secret argument values as sha256 by default; false keeps them', () => {
    const file = join(dir(), 'telemetry.db');
    const logger = new TelemetryLogger({ dbPath: file });
    const runId = logger.startRun({});
    const action = createAction({ toolName: 'http_get', toolArgs: ARGS });
    logger.logActionProposed(runId, action);
    logger.logToolExecutionStart(runId, action, { ...ARGS, password: 'pw' });
    logger.flush();
    const payloads = logger.getRunEvents(runId).map((e) => e.payload);
    logger.close();
    expect(payloads[1]?.tool_args).toMatchObject({ api_key: hashed(SECRET), max_tokens: 100 });
    expect(payloads[2]?.tool_args).toMatchObject({ password: hashed('pw') });
    const raw = openSqlite(file, { readonly: true });
    const text = JSON.stringify(raw.prepare('SELECT payload FROM trace_events').all());
    raw.close();
    expect(text).not.toContain(SECRET);

    const clear = new TelemetryLogger({ dbPath: ':memory:', redactKeys: false });
    const run2 = clear.startRun({});
    clear.logActionProposed(run2, action);
    expect(clear.getRunEvents(run2)[1]?.payload.tool_args).toMatchObject({ api_key: SECRET });
    clear.close();
  });

  it('makes an existing telemetry file, and its -wal and -shm, 0600 when opened', () => {
    const file = join(dir(), 'telemetry.db');
    const first = new TelemetryLogger({ dbPath: file });
    first.startRun({});
    first.flush();
    // Opened again while another process still has it open, so -wal and -shm exist.
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o644);
    const second = new TelemetryLogger({ dbPath: file });
    for (const f of [file, `${file}-wal`, `${file}-shm`])
      if (existsSync(f)) expect(mode(f), f).toBe(0o600);
    expect(existsSync(`${file}-wal`)).toBe(true);
    second.close();
    first.close();
  });
});

describe('approvals.db', () => {
  function rawData(file: string, id: string): string {
    const db = openSqlite(file, { readonly: true });
    const row = db.prepare('SELECT data FROM approvals WHERE id = ?').get(id) as { data: string };
    db.close();
    return row.data;
  }

  it('keeps a pending record in clear for its reviewers and hashes its secrets once settled', async () => {
    const file = join(dir(), 'approvals.db');
    const store = new SqliteApprovalStore(file);
    const record = pendingRecord({ args: ARGS, argsHash: argsHash(ARGS) });
    await store.put(record);
    expect((await store.get(record.id))?.args).toEqual(ARGS);
    await store.settle(record.id, { status: 'withdrawn', statusReason: 'client left' });
    expect(rawData(file, record.id)).not.toContain(SECRET);
    const settled = await store.get(record.id);
    expect(settled?.args).toMatchObject({ api_key: hashed(SECRET), url: ARGS.url });
    // The hash still names the real arguments.
    expect(settled?.argsHash).toBe(argsHash(ARGS));
    await store.close();
  });

  it('keeps edited arguments in clear until the asker received them, then hashes them', async () => {
    const file = join(dir(), 'approvals.db');
    const store = new SqliteApprovalStore(file);
    const record = pendingRecord();
    await store.put(record);
    const edited = { path: '/tmp/b', token: 'tok-abc-123' };
    await store.settle(record.id, {
      status: 'approved',
      decision: {
        actionId: record.id,
        approved: true,
        reason: '',
        decidedBy: 'cli:alice',
        latencyMs: 1,
        tags: [],
        editedArgs: edited,
      },
    });
    // A restart must still be able to run them.
    expect((await store.get(record.id))?.decision?.editedArgs).toEqual(edited);
    await store.markDelivered(record.id, new Date().toISOString());
    expect(rawData(file, record.id)).not.toContain('tok-abc-123');
    expect((await store.get(record.id))?.decision?.editedArgs).toEqual({
      path: '/tmp/b',
      token: hashed('tok-abc-123'),
    });
    await store.close();
  });

  it('makes an existing approvals.db, and its -wal and -shm, 0600 when opened', async () => {
    const file = join(dir(), 'approvals.db');
    const first = new SqliteApprovalStore(file);
    await first.put(pendingRecord());
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o644);
    const second = new SqliteApprovalStore(file);
    expect(existsSync(`${file}-wal`)).toBe(true);
    for (const f of [file, `${file}-wal`, `${file}-shm`])
      if (existsSync(f)) expect(mode(f), f).toBe(0o600);
    await second.close();
    await first.close();
  });
});

describe('the proxy config: telemetry.redactKeys', () => {
  const write = (telemetry: unknown) => {
    const file = join(dir(), 'hitloop.json');
    writeFileSync(file, JSON.stringify({ mcpServers: { a: { command: 'x' } }, telemetry }));
    return file;
  };

  it('defaults to true, takes a regular expression or false', () => {
    expect(loadProxyConfig(write({})).telemetry.redactKeys).toBe(true);
    expect(loadProxyConfig(write({ redactKeys: 'pin|otp' })).telemetry.redactKeys).toBe('pin|otp');
    expect(loadProxyConfig(write({ redactKeys: false })).telemetry.redactKeys).toBe(false);
  });

  it('names the field and the fix for a value that is not a regular expression', () => {
    const err = configError(() => loadProxyConfig(write({ redactKeys: 'token(' })));
    expect(err.message).toContain('telemetry.redactKeys');
    expect(err.message).toContain('not a valid regular expression');
  });
});
