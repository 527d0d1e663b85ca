import type { ApprovalStore } from './approval-store.js';
import { MemoryApprovalStore } from './memory-store.js';
import { SqliteApprovalStore } from './sqlite-store.js';

/** Options of {@link openApprovalStore}. */
export interface OpenStoreOptions {
  /** Warnings: unreadable records (skipped) and lost connections. Default: stderr. */
  onInvalid?: (message: string) => void;
  /** PostgreSQL schema (default `hitloop`). */
  schema?: string;
  /** Redis key prefix (default `hitloop:`). */
  prefix?: string;
  /** Redis: how long settled records are kept (default 7 days). */
  ttlSeconds?: number;
  /** How long to wait for a server to accept the connection; default 5000 ms. */
  connectTimeoutMs?: number;
  /** SQLite: secret argument keys stored hashed in settled records (default true; see SqliteApprovalStore). */
  redactKeys?: string | RegExp | boolean;
}

/**
 * Why a store could not be opened: `message` names the store (password
 * masked), what failed and what to do, ready to show a person as it is.
 */
export class StoreOpenError extends Error {
  readonly url: string;
  readonly fix: string;

  constructor(url: string, problem: string, fix: string) {
    super(`cannot open the approval store ${url}: ${problem}; ${fix}`);
    this.name = 'StoreOpenError';
    this.url = url;
    this.fix = fix;
  }
}

/**
 * A store URL with any password replaced by `****`, safe to print or log.
 *
 * @example
 * maskStoreUrl('postgres://alice:s3cret@db:5432/hitloop'); // 'postgres://alice:****@db:5432/hitloop'
 */
export function maskStoreUrl(spec: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) return spec;
  try {
    const url = new URL(spec);
    if (url.password) url.password = '****';
    if (url.searchParams.has('password')) url.searchParams.set('password', '****');
    return url.toString();
  } catch {
    // Not parseable as a URL: mask anything between "user:" and "@" anyway.
    return spec.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1****@');
  }
}

/**
 * Opens the approval store a spec names, ready to use:
 * - `memory`: in this process only;
 * - `sqlite:PATH` or a file path: the SQLite store;
 * - `postgres://…` / `postgresql://…`: PostgreSQL (tables created if
 *   missing); `?schema=NAME` picks the schema (default `hitloop`);
 * - `redis://…` / `rediss://…`: Redis; `?prefix=NAME:` picks the key prefix
 *   (default `hitloop:`), `?ttl=SECONDS` how long settled records are kept.
 *
 * The PostgreSQL and Redis drivers are loaded only when such a URL is opened.
 * Failures are a {@link StoreOpenError} whose message names the URL (password
 * masked), what failed and how to fix it.
 *
 * @example
 * const store = await openApprovalStore(process.env.HITLOOP_STORE ?? '~/.hitloop/approvals.db');
 */
export async function openApprovalStore(
  spec: string,
  options: OpenStoreOptions = {},
): Promise<ApprovalStore> {
  const trimmed = spec.trim();
  const shown = maskStoreUrl(trimmed);
  if (!trimmed)
    throw new StoreOpenError(
      '(empty)',
      'no store given',
      'use memory, a file path, sqlite:PATH, postgres://… or redis://…',
    );
  if (trimmed === 'memory') return new MemoryApprovalStore();
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(trimmed)?.[1]?.toLowerCase();
  // One letter before ':' is a Windows drive (C:\…), not a scheme.
  if (!scheme) return openSqlite(trimmed, shown, options);
  switch (scheme) {
    case 'sqlite':
      return openSqlite(trimmed.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''), shown, options);
    case 'postgres':
    case 'postgresql':
      return openPostgres(trimmed, shown, options);
    case 'redis':
    case 'rediss':
      return openRedis(trimmed, shown, options);
    default:
      throw new StoreOpenError(
        shown,
        `unknown store type "${scheme}:"`,
        'use memory, a file path, sqlite:PATH, postgres://user@host:5432/db or redis://host:6379',
      );
  }
}

function openSqlite(file: string, shown: string, options: OpenStoreOptions): ApprovalStore {
  if (!file)
    throw new StoreOpenError(
      shown,
      'no file after "sqlite:"',
      'write sqlite:/path/to/approvals.db',
    );
  try {
    return new SqliteApprovalStore(file, {
      onInvalid: options.onInvalid,
      ...(options.redactKeys !== undefined ? { redactKeys: options.redactKeys } : {}),
    });
  } catch (err) {
    throw new StoreOpenError(
      shown,
      `cannot open the SQLite file (${message(err)})`,
      'check that the folder is writable and the file is a hitloop approvals database',
    );
  }
}

async function openPostgres(
  url: string,
  shown: string,
  options: OpenStoreOptions,
): Promise<ApprovalStore> {
  const { url: connString, params } = takeParams(
    url,
    shown,
    'postgres://user:password@host:5432/database',
    ['schema'],
  );
  const { PostgresApprovalStore } = await import('./postgres-store.js');
  let store: InstanceType<typeof PostgresApprovalStore>;
  try {
    store = PostgresApprovalStore.fromConnString(connString, {
      schema: options.schema ?? params.schema,
      onInvalid: options.onInvalid,
      pool: { connectionTimeoutMillis: options.connectTimeoutMs ?? 5000 },
    });
  } catch (err) {
    throw new StoreOpenError(shown, message(err), 'check the schema name');
  }
  try {
    await store.setup();
    return store;
  } catch (err) {
    await store.close().catch(() => {});
    const code = (err as { code?: string }).code;
    const [problem, fix] = postgresAdvice(code, message(err));
    throw new StoreOpenError(shown, problem, fix);
  }
}

/** What went wrong and what to do, by PostgreSQL error code or socket error. */
function postgresAdvice(code: string | undefined, text: string): [string, string] {
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return [
        `cannot connect (${text})`,
        'is PostgreSQL running and reachable there? check the host and port in the URL',
      ];
    case '28P01':
    case '28000':
      return [`login refused (${text})`, 'check the user and password in the URL'];
    case '3D000':
      return [
        `no such database (${text})`,
        'create the database (createdb) or fix its name in the URL',
      ];
    case '42501':
      return [
        `permission denied (${text})`,
        "run once as a role that may create the schema and tables, or grant this role USAGE and CREATE on the store's schema",
      ];
    default:
      if (/timeout/i.test(text))
        return [
          `no answer in time (${text})`,
          'is PostgreSQL running and reachable there? check the host, port and firewall',
        ];
      return [text, 'check the URL and that the server is a PostgreSQL server'];
  }
}

async function openRedis(
  url: string,
  shown: string,
  options: OpenStoreOptions,
): Promise<ApprovalStore> {
  const { url: connString, params } = takeParams(url, shown, 'redis://[:password@]host:6379[/db]', [
    'prefix',
    'ttl',
  ]);
  const ttl = params.ttl === undefined ? undefined : Number(params.ttl);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0))
    throw new StoreOpenError(
      shown,
      `ttl=${params.ttl} is not a number of seconds`,
      'use e.g. ?ttl=604800',
    );
  const { RedisApprovalStore } = await import('./redis-store.js');
  try {
    return await RedisApprovalStore.fromConnString(connString, {
      prefix: options.prefix ?? params.prefix,
      ttlSeconds: options.ttlSeconds ?? ttl,
      onInvalid: options.onInvalid,
      connectTimeoutMs: options.connectTimeoutMs,
    });
  } catch (err) {
    const text = message(err);
    if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(text))
      throw new StoreOpenError(
        shown,
        `login refused (${text})`,
        'check the user and password in the URL',
      );
    if (/ttlSeconds/.test(text))
      throw new StoreOpenError(shown, text, 'use a positive whole number');
    throw new StoreOpenError(
      shown,
      `cannot connect (${text})`,
      'is Redis running and reachable there? check the host and port in the URL',
    );
  }
}

/**
 * Checks a server URL and takes out hitloop's own query parameters
 * (`?schema=`, `?prefix=`, `?ttl=`), which the drivers would not understand.
 */
function takeParams(
  url: string,
  shown: string,
  example: string,
  names: readonly string[],
): { url: string; params: Record<string, string | undefined> } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreOpenError(shown, 'not a valid URL', `write it as ${example}`);
  }
  if (!parsed.hostname)
    throw new StoreOpenError(shown, 'no host in the URL', `write it as ${example}`);
  const params: Record<string, string | undefined> = {};
  for (const name of names) {
    const value = parsed.searchParams.get(name);
    if (value === null) continue;
    params[name] = value;
    parsed.searchParams.delete(name);
  }
  return { url: Object.keys(params).length ? parsed.toString() : url, params };
}

function message(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length)
    return err.errors.map((e) => message(e)).join('; ');
  return err instanceof Error ? err.message || String(err) : String(err);
}
