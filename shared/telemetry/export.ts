import { existsSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { openSqlite, SqliteUnavailableError } from '../sqlite/open.js';
import type { SqliteDatabase } from '../sqlite/types.js';
import { asConfigError, columnNames, requireTelemetryTables } from './schema.js';
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
 * CSV columns, in order: each event with its run's condition.
 *
 * @example
 * CSV_COLUMNS.join(',') // 'event_id,run_id,condition,event_type,timestamp,payload'
 */
export const CSV_COLUMNS = [
  'event_id',
  'run_id',
  'condition',
  'event_type',
  'timestamp',
  'payload',
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
 * A run as exported: the table's columns, metadata parsed.
 *
 * @example
 * const failed = exportTelemetryJson(db).runs.filter((r: ExportedRun) => r.success === false);
 */
export interface ExportedRun {
  run_id: string | null;
  condition: string | null;
  scenario: string | null;
  start_time: string | null;
  end_time: string | null;
  success: boolean | null;
  metadata: unknown;
  /** Present when the stored metadata was not valid JSON; `metadata` is then null. */
  metadata_raw?: string;
  metadata_error?: string;
}

/**
 * An event as exported: the table's columns plus the run's condition, payload parsed.
 *
 * @example
 * const broken = exportTelemetryJson(db).events.filter((e: ExportedEvent) => e.payload_error);
 */
export interface ExportedEvent {
  event_id: string | null;
  run_id: string | null;
  condition: string | null;
  event_type: string | null;
  timestamp: string | null;
  payload: unknown;
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
 * is not SQLite, or one without the telemetry tables. Seed files (schema
 * version 1) are accepted as they are.
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

function whereClause(filter: ExportFilter, runAlias: string, runIdColumn: string) {
  const conditions: string[] = [];
  const params: string[] = [];
  if (filter.runId !== undefined) {
    conditions.push(`${runIdColumn} = ?`);
    params.push(filter.runId);
  }
  if (filter.condition !== undefined) {
    conditions.push(`${runAlias}.condition = ?`);
    params.push(filter.condition);
  }
  return { sql: conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '', params };
}

interface EventRow {
  event_id: unknown;
  run_id: unknown;
  condition: unknown;
  event_type: unknown;
  timestamp: unknown;
  payload: unknown;
}

interface RunRow {
  run_id: unknown;
  condition: unknown;
  scenario: unknown;
  start_time: unknown;
  end_time: unknown;
  success: unknown;
  metadata: unknown;
}

function eventRows(db: SqliteDatabase, filter: ExportFilter): IterableIterator<EventRow> {
  const where = whereClause(filter, 'r', 'e.run_id');
  return db
    .prepare(
      `SELECT e.event_id, e.run_id, r.condition AS condition, e.event_type, e.timestamp, e.payload
       FROM trace_events e LEFT JOIN runs r ON r.run_id = e.run_id${where.sql}
       ORDER BY e.rowid`,
    )
    .iterate(...where.params) as IterableIterator<EventRow>;
}

function runRows(db: SqliteDatabase, filter: ExportFilter): IterableIterator<RunRow> {
  const where = whereClause(filter, 'r', 'r.run_id');
  // Seed files (version 1) have no scenario column; export them as they are.
  const scenario = columnNames(db, 'runs').has('scenario') ? 'r.scenario' : 'NULL';
  return db
    .prepare(
      `SELECT r.run_id, r.condition, ${scenario} AS scenario, r.start_time, r.end_time, r.success, r.metadata
       FROM runs r${where.sql} ORDER BY r.start_time, r.rowid`,
    )
    .iterate(...where.params) as IterableIterator<RunRow>;
}

function toExportedEvent(row: EventRow): ExportedEvent {
  const payload = parseStoredJson(row.payload);
  const event: ExportedEvent = {
    event_id: textOrNull(row.event_id),
    run_id: textOrNull(row.run_id),
    condition: textOrNull(row.condition),
    event_type: textOrNull(row.event_type),
    timestamp: textOrNull(row.timestamp),
    payload: payload.ok ? payload.value : null,
  };
  if (!payload.ok) {
    event.payload_raw = payload.raw;
    event.payload_error = payload.error;
  }
  return event;
}

function toExportedRun(row: RunRow): ExportedRun {
  const metadata = parseStoredJson(row.metadata);
  const run: ExportedRun = {
    run_id: textOrNull(row.run_id),
    condition: textOrNull(row.condition),
    scenario: textOrNull(row.scenario),
    start_time: textOrNull(row.start_time),
    end_time: textOrNull(row.end_time),
    success: successFlag(row.success),
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
      yield `${csvField(row.event_id)},${csvField(row.run_id)},${csvField(row.condition)},${csvField(row.event_type)},${csvField(row.timestamp)},${csvField(row.payload)}\r\n`;
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
