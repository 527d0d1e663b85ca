import { existsSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { openSqlite, SqliteUnavailableError } from '../sqlite/open.js';
import type { SqliteDatabase } from '../sqlite/types.js';
import {
  asConfigError,
  columnNames,
  requireTelemetryTables,
  type TelemetryLayout,
  telemetryLayout,
} from './schema.js';
import { parseStoredJson, successFlag, textOrNull } from './stored-json.js';

/**
 * The formats `hitloop telemetry export` writes.
 *
 * @example
 * EXPORT_FORMATS.includes(format as ExportFormat)
 */
export const EXPORT_FORMATS = ['csv', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * CSV columns, in order: the seed's `trace_events` columns, then the stable
 * event id and the run's condition.
 *
 * @example
 * CSV_COLUMNS.join(',') // 'id,timestamp,run_id,event_type,payload,event_id,condition_id'
 */
export const CSV_COLUMNS = [
  'id',
  'timestamp',
  'run_id',
  'event_type',
  'payload',
  'event_id',
  'condition_id',
] as const;

/**
 * Which rows to export; both filters together mean both must match.
 *
 * @example
 * exportEventsCsv(db, { condition: 'risk_based' } satisfies ExportFilter);
 */
export interface ExportFilter {
  runId?: string;
  condition?: string;
}

/**
 * A run as exported: the seed's `runs` columns (`task_success` 0/1 as
 * stored), then `metadata`; the JSON columns parsed.
 *
 * @example
 * const failed = exportTelemetryJson(db).runs.filter((r: ExportedRun) => r.task_success === 0);
 */
export interface ExportedRun {
  id: number | null;
  run_id: string | null;
  scenario_id: string | null;
  condition_id: string | null;
  agent_version: string | null;
  model: string | null;
  seed: number | null;
  started_at: string | null;
  finished_at: string | null;
  task_success: 0 | 1 | null;
  validation_details: unknown;
  metadata: unknown;
  /** Present when the stored metadata was not valid JSON; `metadata` is then null. */
  metadata_raw?: string;
  metadata_error?: string;
}

/**
 * An event as exported: the seed's `trace_events` columns, then the stable
 * event id and the run's condition; payload parsed.
 *
 * @example
 * const broken = exportTelemetryJson(db).events.filter((e: ExportedEvent) => e.payload_error);
 */
export interface ExportedEvent {
  id: number | null;
  timestamp: string | null;
  run_id: string | null;
  event_type: string | null;
  payload: unknown;
  event_id: string | null;
  condition_id: string | null;
  /** Present when the stored payload was not valid JSON; `payload` is then null. */
  payload_raw?: string;
  payload_error?: string;
}

/**
 * The JSON export document.
 *
 * @example
 * const doc: TelemetryExport = JSON.parse(readFileSync('export.json', 'utf8'));
 */
export interface TelemetryExport {
  runs: ExportedRun[];
  events: ExportedEvent[];
}

/**
 * What an export wrote: the return value of {@link exportTelemetry}.
 *
 * @example
 * const { events, invalidJson }: ExportSummary = summary;
 */
export interface ExportSummary {
  runs: number;
  events: number;
  /** Rows whose payload or metadata was not valid JSON (JSON format only). */
  invalidJson: number;
}

/**
 * Opens an existing telemetry database read-only for export. Never creates a
 * file; throws a ConfigError naming the file for a missing file, a file that
 * is not SQLite, or one without the telemetry tables. Files of every layout
 * (the Python hitloop's, hitloop's first, the current) are read as they are.
 *
 * @example
 * const db = openTelemetryForExport('results/telemetry.db');
 * try { process.stdout.write(exportEventsCsv(db)); } finally { db.close(); }
 */
export function openTelemetryForExport(file: string): SqliteDatabase {
  if (!existsSync(file)) {
    throw new ConfigError({
      file,
      problem: 'no such telemetry database',
      fix: 'check the path; it is the dbPath the TelemetryLogger wrote to',
    });
  }
  if (statSync(file).isDirectory()) {
    throw new ConfigError({
      file,
      problem: 'is a directory, not a telemetry database',
      fix: 'give the path of the .db file inside it',
    });
  }
  let db: SqliteDatabase;
  try {
    db = openSqlite(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    if (err instanceof SqliteUnavailableError) throw err;
    throw asConfigError(err, file);
  }
  try {
    requireTelemetryTables(db, file);
    return db;
  } catch (err) {
    db.close();
    throw asConfigError(err, file);
  }
}

/** SQL expressions for the current column names, in either layout (alias `r` for runs, `e` for events). */
function columnsOf(db: SqliteDatabase, layout: TelemetryLayout) {
  if (layout === 'seed') {
    return {
      condition: 'r.condition_id',
      eventId: columnNames(db, 'trace_events').has('event_id') ? 'e.event_id' : 'NULL',
      runs: `r.id, r.run_id, r.scenario_id, r.condition_id, r.agent_version, r.model, r.seed,
             r.started_at, r.finished_at, r.task_success, r.validation_details,
             ${columnNames(db, 'runs').has('metadata') ? 'r.metadata' : 'NULL'} AS metadata`,
      runOrder: 'r.started_at, r.id',
      eventSelect: 'e.id, e.timestamp, e.run_id, e.event_type, e.payload',
      eventOrder: 'e.id',
    };
  }
  // hitloop's first layout, exported under the seed's names.
  const scenario = columnNames(db, 'runs').has('scenario') ? 'r.scenario' : 'NULL';
  return {
    condition: 'r.condition',
    eventId: 'e.event_id',
    runs: `r.rowid AS id, r.run_id, ${scenario} AS scenario_id, r.condition AS condition_id,
           NULL AS agent_version, NULL AS model, NULL AS seed, r.start_time AS started_at,
           r.end_time AS finished_at, r.success AS task_success, NULL AS validation_details,
           r.metadata`,
    runOrder: 'r.start_time, r.rowid',
    eventSelect: 'e.rowid AS id, e.timestamp, e.run_id, e.event_type, e.payload',
    eventOrder: 'e.rowid',
  };
}

function whereClause(filter: ExportFilter, conditionColumn: string, runIdColumn: string) {
  const conditions: string[] = [];
  const params: string[] = [];
  if (filter.runId !== undefined) {
    conditions.push(`${runIdColumn} = ?`);
    params.push(filter.runId);
  }
  if (filter.condition !== undefined) {
    conditions.push(`${conditionColumn} = ?`);
    params.push(filter.condition);
  }
  return { sql: conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '', params };
}

interface EventRow {
  id: unknown;
  timestamp: unknown;
  run_id: unknown;
  event_type: unknown;
  payload: unknown;
  event_id: unknown;
  condition_id: unknown;
}

interface RunRow {
  id: unknown;
  run_id: unknown;
  scenario_id: unknown;
  condition_id: unknown;
  agent_version: unknown;
  model: unknown;
  seed: unknown;
  started_at: unknown;
  finished_at: unknown;
  task_success: unknown;
  validation_details: unknown;
  metadata: unknown;
}

function eventRows(db: SqliteDatabase, filter: ExportFilter): IterableIterator<EventRow> {
  const cols = columnsOf(db, telemetryLayout(db));
  const where = whereClause(filter, cols.condition, 'e.run_id');
  return db
    .prepare(
      `SELECT ${cols.eventSelect}, ${cols.eventId} AS event_id, ${cols.condition} AS condition_id
       FROM trace_events e LEFT JOIN runs r ON r.run_id = e.run_id${where.sql}
       ORDER BY ${cols.eventOrder}`,
    )
    .iterate(...where.params) as IterableIterator<EventRow>;
}

function runRows(db: SqliteDatabase, filter: ExportFilter): IterableIterator<RunRow> {
  const cols = columnsOf(db, telemetryLayout(db));
  const where = whereClause(filter, cols.condition, 'r.run_id');
  return db
    .prepare(`SELECT ${cols.runs} FROM runs r${where.sql} ORDER BY ${cols.runOrder}`)
    .iterate(...where.params) as IterableIterator<RunRow>;
}

function intOrNull(value: unknown): number | null {
  if (typeof value === 'bigint') return Number(value);
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function toExportedEvent(row: EventRow): ExportedEvent {
  const payload = parseStoredJson(row.payload);
  const event: ExportedEvent = {
    id: intOrNull(row.id),
    timestamp: textOrNull(row.timestamp),
    run_id: textOrNull(row.run_id),
    event_type: textOrNull(row.event_type),
    payload: payload.ok ? payload.value : null,
    event_id: textOrNull(row.event_id),
    condition_id: textOrNull(row.condition_id),
  };
  if (!payload.ok) {
    event.payload_raw = payload.raw;
    event.payload_error = payload.error;
  }
  return event;
}

function toExportedRun(row: RunRow): ExportedRun {
  const metadata = parseStoredJson(row.metadata);
  const details = parseStoredJson(row.validation_details);
  const success = successFlag(row.task_success);
  const run: ExportedRun = {
    id: intOrNull(row.id),
    run_id: textOrNull(row.run_id),
    scenario_id: textOrNull(row.scenario_id),
    condition_id: textOrNull(row.condition_id),
    agent_version: textOrNull(row.agent_version),
    model: textOrNull(row.model),
    seed: intOrNull(row.seed),
    started_at: textOrNull(row.started_at),
    finished_at: textOrNull(row.finished_at),
    task_success: success === null ? null : success ? 1 : 0,
    validation_details: details.ok ? details.value : null,
    metadata: metadata.ok ? metadata.value : null,
  };
  if (!metadata.ok) {
    run.metadata_raw = metadata.raw;
    run.metadata_error = metadata.error;
  }
  return run;
}

/**
 * Quotes one CSV field per RFC 4180: fields with a comma, quote, CR or LF are
 * wrapped in double quotes with inner quotes doubled; NULL is an empty field.
 *
 * @example
 * csvField('say "hi", then go') // '"say ""hi"", then go"'
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Streams an export as text chunks (one line or record each), so a large
 * database is never held in memory; the generator's return value counts what
 * was written. CSV lines end in CRLF as RFC 4180 says; the payload column is
 * the stored JSON text, unchanged.
 *
 * @example
 * const chunks = exportTelemetry(db, 'json', { condition: 'risk_based' });
 * for (let r = chunks.next(); !r.done; r = chunks.next()) out.write(r.value);
 */
export function* exportTelemetry(
  db: SqliteDatabase,
  format: ExportFormat,
  filter: ExportFilter = {},
): Generator<string, ExportSummary, undefined> {
  const summary: ExportSummary = { runs: 0, events: 0, invalidJson: 0 };
  if (format === 'csv') {
    yield `${CSV_COLUMNS.join(',')}\r\n`;
    for (const row of eventRows(db, filter)) {
      summary.events++;
      yield `${csvField(row.id)},${csvField(row.timestamp)},${csvField(row.run_id)},${csvField(row.event_type)},${csvField(row.payload)},${csvField(row.event_id)},${csvField(row.condition_id)}\r\n`;
    }
    return summary;
  }
  // One record per line keeps the file diffable and lets the document stream.
  yield '{\n  "runs": [';
  for (const row of runRows(db, filter)) {
    const run = toExportedRun(row);
    if (run.metadata_error !== undefined) summary.invalidJson++;
    yield `${summary.runs++ === 0 ? '\n' : ',\n'}    ${JSON.stringify(run)}`;
  }
  yield `${summary.runs ? '\n  ' : ''}],\n  "events": [`;
  for (const row of eventRows(db, filter)) {
    const event = toExportedEvent(row);
    if (event.payload_error !== undefined) summary.invalidJson++;
    yield `${summary.events++ === 0 ? '\n' : ',\n'}    ${JSON.stringify(event)}`;
  }
  yield `${summary.events ? '\n  ' : ''}]\n}\n`;
  return summary;
}

/**
 * The events as one CSV string (header row first).
 *
 * @example
 * writeFileSync('events.csv', exportEventsCsv(db, { runId }));
 */
export function exportEventsCsv(db: SqliteDatabase, filter: ExportFilter = {}): string {
  let out = '';
  for (const chunk of exportTelemetry(db, 'csv', filter)) out += chunk;
  return out;
}

/**
 * The runs and events as objects, payload and metadata parsed. A value that
 * is not valid JSON comes back as null with `*_raw` (the stored text) and
 * `*_error` beside it.
 *
 * @example
 * const { runs, events } = exportTelemetryJson(db, { condition: 'risk_based' });
 */
export function exportTelemetryJson(
  db: SqliteDatabase,
  filter: ExportFilter = {},
): TelemetryExport {
  const runs: ExportedRun[] = [];
  for (const row of runRows(db, filter)) runs.push(toExportedRun(row));
  const events: ExportedEvent[] = [];
  for (const row of eventRows(db, filter)) events.push(toExportedEvent(row));
  return { runs, events };
}
